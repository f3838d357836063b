// Maps a path in the parsed config back to line:col in the YAML text.
import { isMap, isPair, isScalar, LineCounter, type Document, type Node } from "yaml";

export type Path = readonly (string | number)[];

export interface Located {
  line: number;
  col: number;
}

/** Where a config path is written: line and column in skiff.yml; 0 when unknown (skiff.config.ts). */
export interface Positions {
  value(path: Path): Located;
  key(path: Path, key: string): Located;
}

/** skiff.config.ts is code: problems are reported by path, without a line. */
export class NoPositions implements Positions {
  value(): Located {
    return { line: 0, col: 0 };
  }
  key(): Located {
    return { line: 0, col: 0 };
  }
}

export class SourceMap implements Positions {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  private at(offset: number): Located {
    const { line, col } = this.lines.linePos(offset);
    return { line, col };
  }

  /** Position of the value at `path`, or of its nearest existing ancestor. */
  value(path: Path): Located {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as Node | undefined;
      if (node && typeof node === "object" && "range" in node && node.range) return this.at(node.range[0]);
    }
    return { line: 1, col: 1 };
  }

  /** Position of the key `key` inside the map at `path` (for unknown or bad keys). */
  key(path: Path, key: string): Located {
    const map = path.length ? this.doc.getIn(path, true) : this.doc.contents;
    if (isMap(map)) {
      for (const item of map.items) {
        if (isPair(item) && isScalar(item.key) && String(item.key.value) === key && item.key.range) return this.at(item.key.range[0]);
      }
    }
    return this.value(path);
  }

  /** True when the path exists in the document as written. */
  has(path: Path): boolean {
    return this.doc.hasIn(path);
  }
}
