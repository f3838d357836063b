// Building the page's DOM without innerHTML: text goes in as text (a log line or an alert's summary can hold
// anything), and the few formats the views share.

type Child = Node | string | number | null | undefined | false;

/** An element with attributes (`class`, `data-*`, `aria-*` …; a function for `on…`) and children. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | ((e: Event) => void) | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") e.addEventListener(k.replace(/^on/, ""), v);
    // Through CSSOM: the page's CSP refuses style attributes.
    else if (k === "style") e.style.cssText = String(v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

export const pct = (v: number | undefined | null) => (v === undefined || v === null ? "–" : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`);
export const bytes = (v: number | undefined) => (v === undefined ? "–" : v >= 2 ** 30 ? `${(v / 2 ** 30).toFixed(1)} GiB` : `${Math.round(v / 2 ** 20)} MiB`);
export const when = (ms: number | string) => new Date(ms).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });

export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 90 ? `${s}s` : s < 5400 ? `${Math.round(s / 60)}m` : s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
}

/** A table; each row's cells are children (a cell of [text, class] gets the class). */
export function table(head: string[], rows: (Child | [Child, string])[][], caption?: string): HTMLElement {
  return el(
    "div",
    { class: "scroll" },
    el(
      "table",
      {},
      caption ? el("caption", { class: "muted", style: "text-align:left" }, caption) : null,
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => (Array.isArray(c) ? el("td", { class: c[1] }, c[0]) : el("td", {}, c)))))),
    ),
  );
}

/** A use/limit bar with its numbers: memory against the instance's limit. */
export function usage(used: number | undefined, limit: number | undefined): HTMLElement {
  if (used === undefined) return el("span", { class: "muted" }, "–");
  if (!limit) return el("span", {}, bytes(used));
  const share = Math.min(1, used / limit);
  return el("span", { title: `${pct(share)} of the limit` }, el("span", { class: `bar${share > 0.85 ? " high" : ""}`, "aria-hidden": "true" }, el("i", { style: `width:${(share * 100).toFixed(0)}%` })), `${bytes(used)} / ${bytes(limit)}`);
}
