// dist/skiff-acme.cjs: one ACME order per run (acme-child.ts).
import { main } from "./acme-child.ts";

void main();
