// skiff dashboard [--port P] [--no-open]: the project in a web page on 127.0.0.1 (src/dashboard/), fed over the
// same SSH channels as the other commands, until Ctrl-C.
import { openBrowser, startDashboard } from "../dashboard/serve.ts";
import { skiffFor, type Ctx } from "./context.ts";

export async function dashboardCommand(ctx: Ctx, o: { port?: number; open?: boolean }): Promise<number> {
  const dash = await startDashboard(skiffFor(ctx), { port: o.port });
  if (ctx.json) ctx.out(JSON.stringify({ url: dash.url }));
  else ctx.out(`skiff dashboard for ${ctx.project.name}${ctx.project.environment ? ` (${ctx.project.environment})` : ""}: ${dash.url}\n(only this computer can reach it; the address holds its password: share it with no one. Ctrl-C ends.)`);
  const forget = o.open === false ? () => {} : openBrowser(dash.url);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  forget();
  await dash.close();
  return 0;
}
