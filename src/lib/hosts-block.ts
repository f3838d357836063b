// skiff's block in a hosts file (/etc/hosts): the lines between its two markers
// belong to the agent; every other line is left exactly as it was. Pure text in,
// text out: the agent writes the file (agent/hosts-file.ts), the Docker runtime
// reads the names back for its containers.

export const HOSTS_FILE = "/etc/hosts";
export const HOSTS_BEGIN = "# BEGIN skiff: names of this machine's apps, written by the skiff agent (edits inside are overwritten)";
export const HOSTS_END = "# END skiff";

const isBegin = (l: string) => l.startsWith("# BEGIN skiff");
const isEnd = (l: string) => l.trim() === HOSTS_END;

/** The file's lines outside skiff's block (every block, should a damaged file hold two). An unclosed block runs to
 *  the end of the file: its lines are the agent's, and the next write closes it. */
function outside(text: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const l of text.split("\n")) {
    if (!inside && isBegin(l)) inside = true;
    else if (inside && isEnd(l)) inside = false;
    else if (!inside) out.push(l);
  }
  return out;
}

/** The text with skiff's block replaced by these lines (no block at all when there are none). */
export function withHostsBlock(text: string, lines: string[]): string {
  const kept = outside(text);
  // split("\n") of a text ending in a newline leaves one empty last element: that one goes (the join puts the
  // newline back); a blank line the file really ends with stays.
  if (kept.at(-1) === "") kept.pop();
  const block = lines.length ? [HOSTS_BEGIN, ...lines, HOSTS_END] : [];
  const all = [...kept, ...block];
  return all.length ? `${all.join("\n")}\n` : "";
}

/** The names skiff's block gives addresses to, as `name → address`. */
export function hostsBlockNames(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let inside = false;
  for (const l of text.split("\n")) {
    if (!inside && isBegin(l)) inside = true;
    else if (inside && isEnd(l)) inside = false;
    else if (inside) {
      const [addr, ...names] = l.replace(/#.*/, "").trim().split(/\s+/);
      if (addr) for (const n of names) out.set(n, addr);
    }
  }
  return out;
}
