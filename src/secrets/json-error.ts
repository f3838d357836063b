// Where a text stops being JSON, as line and column. JSON.parse's own message
// quotes the text around the mistake (on Node 20: `Unexpected token h,
// "…WORD": hunter2"… is not valid JSON`), and in a secrets file that text is a
// secret; so the place is found here and only the place is shown.

/** 1-based line and column of the first character that is not valid JSON, or undefined when the text is JSON. */
export function jsonErrorAt(text: string): { line: number; col: number } | undefined {
  const end = _firstBadOffset(text);
  if (end === undefined) return undefined;
  const before = text.slice(0, end).split("\n");
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

const LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;
const MAX_DEPTH = 512;

function _firstBadOffset(text: string): number | undefined {
  let i = 0;
  const bad = (): never => {
    throw new _At(i);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const string = () => {
    i++; // the opening quote
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '"') return void i++;
      if (ch === "\\") {
        ESCAPE.lastIndex = i;
        if (!ESCAPE.exec(text)) bad();
        i = ESCAPE.lastIndex;
      } else if (ch < " ") bad();
      else i++;
    }
    bad();
  };
  const value = (depth: number): void => {
    ws();
    if (depth > MAX_DEPTH) bad();
    const open = text[i];
    if (open === "{" || open === "[") {
      const close = open === "{" ? "}" : "]";
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (open === "{") {
          ws();
          if (text[i] !== '"') bad();
          string();
          ws();
          if (text[i] !== ":") bad();
          i++;
        }
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === close) return void i++;
        else bad();
      }
    }
    if (open === '"') return string();
    LITERAL.lastIndex = i;
    if (!LITERAL.exec(text)) bad();
    i = LITERAL.lastIndex;
  };
  try {
    value(0);
    ws();
    if (i < text.length) bad();
    return undefined;
  } catch (e) {
    if (e instanceof _At) return e.offset;
    throw e;
  }
}

class _At {
  constructor(readonly offset: number) {}
}
