// Apps and accessories through the keys they share, for the rules that hold for both.
import type { AppInput, ConfigInput } from "./schema.ts";

/** An app or an accessory, seen through the keys they share (an accessory speaks tcp unless it says otherwise). */
export interface Service {
  kind: "apps" | "accessories";
  /** "app" or "accessory", for messages. */
  word: string;
  name: string;
  app: AppInput;
}

export const services = (c: ConfigInput): Service[] => [
  ...Object.entries(c.apps ?? {}).map(([name, app]) => ({ kind: "apps" as const, word: "app", name, app })),
  ...Object.entries(c.accessories ?? {}).map(([name, a]) => ({ kind: "accessories" as const, word: "accessory", name, app: { ...a, protocol: a.protocol ?? "tcp" } as AppInput })),
];

