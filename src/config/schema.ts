// The schema of skiff.yml "as written". It is the single source of the TS types,
// the validation, schema/skiff.schema.json and docs/config.md. Defaults and
// duration parsing live in normalize.ts, so the JSON Schema describes what a
// person types, not what skiff computes; bounds on durations and sizes are
// checked here with the same parser (duration.ts), so a value that passes
// cannot become 0, Infinity or a timer overflow later.
import { isIP } from "node:net";
import { Cron } from "croner";
import { z } from "zod";
import { posix } from "node:path";
import { parseDuration, parseMemory } from "./duration.ts";
import { DEFAULT_METRICS_PORT } from "./model.ts";
import { recipientProblem } from "./recipients.ts";
import { sshOptionProblem } from "./ssh-options.ts";
import { identityFileProblem, isSshHost, proxyJumpProblem, SSH_USER } from "./ssh-values.ts";
import { hasControl, isCheckPath, isRouteHost, isRoutePath } from "./formats.ts";

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const nameMsg = "must be lowercase letters, digits and '-', starting with a letter (at most 63 characters)";

/** A name used in container names, HAProxy backends and DNS labels. */
export const Name = z.string().regex(NAME, nameMsg);

const MS = { s: 1000, m: 60_000, h: 3_600_000 };
const showMs = (ms: number) => (ms === 0 ? "0s" : ms % MS.h === 0 ? `${ms / MS.h}h` : ms % MS.m === 0 ? `${ms / MS.m}m` : ms % MS.s === 0 ? `${ms / MS.s}s` : `${ms}ms`);

/** "500ms", "2s", "1m", "1h", or a number of seconds — within bounds: a 0 would mean "no timeout" to Node
 *  and an absurd one overflows setTimeout (2^31-1 ms, 24.8 days), so every duration has both. */
function duration(minMs: number, maxMs: number, description: string) {
  const range = `${showMs(minMs)}–${showMs(maxMs)}`;
  return z
    .union([
      z.number().min(minMs / 1000, `must be at least ${showMs(minMs)} (a number is seconds)`).max(maxMs / 1000, `must be at most ${showMs(maxMs)} (a number is seconds)`),
      z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'must be a duration such as "500ms", "2s", "1m" or "1h"'),
    ])
    .refine((v) => inRange(v, parseDuration, minMs, maxMs), `must be between ${showMs(minMs)} and ${showMs(maxMs)}`)
    .optional()
    .meta({ description: `${description} Between ${range.replace("–", " and ")}.` });
}

/** For a string the union took: its parsed value is in range (the number side checks its own bounds; a string
 *  that is not a duration or size at all is reported by the regex — zod runs refinements after a failed union too). */
function inRange(v: unknown, parse: (s: string) => number, min: number, max: number): boolean {
  if (typeof v !== "string") return true;
  try {
    const n = parse(v);
    return n >= min && n <= max;
  } catch {
    return true;
  }
}

/** Docker refuses less than 6 MiB; 0 would mean "no limit" to Docker and `memory.max`. */
const MEMORY_MIN = 6 * 2 ** 20;
const MEMORY_MAX = 2 ** 50;

const Port = z.number().int().min(1).max(65535);

/** `__proto__` fits the pattern, but as a key it would set an object's prototype, not a name. */
const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name")
  .refine((v) => v !== "__proto__", '"__proto__" cannot be a name');

/** A string with no control characters (newline, tab, NUL…). */
const Line = (what: string) => z.string().refine((v) => !hasControl(v), `${what} must not contain newlines or control characters`);

export const Env = z
  .record(EnvName, z.union([z.string(), z.number(), z.boolean()]))
  .meta({ description: "Environment variables given to every instance. Numbers and booleans are turned into strings." });

export const SshOptions = z
  .strictObject({
    identity_file: Line("the path")
      .min(1)
      .max(4096)
      .refine((v) => !identityFileProblem(v)?.startsWith("starts with"), 'must not start with "-"')
      .optional()
      .meta({ description: "Private key to use (`ssh -i`). Default: your ssh-agent and ~/.ssh/config. Not starting with `-`." }),
    proxy_jump: z
      .string()
      .max(1024)
      .superRefine((v, ctx) => {
        const problem = proxyJumpProblem(v);
        if (problem) ctx.addIssue({ code: "custom", message: `must be [user@]host[:port] hops separated by commas: ${problem}` });
      })
      .optional()
      .meta({ description: "Jump host (`ssh -J`): `[user@]host[:port]`, several separated by commas (an IPv6 address in brackets), e.g. `bastion.example.com`." }),
    options: z
      .record(z.string().regex(/^[A-Za-z]+$/, "must be an ssh_config keyword such as ConnectTimeout"), z.union([z.string(), z.number()]))
      .superRefine((opts, ctx) => {
        for (const [k, v] of Object.entries(opts)) {
          const problem = sshOptionProblem(k, v);
          if (problem) ctx.addIssue({ code: "custom", path: [k], message: problem, params: { atKey: true } });
        }
      })
      .optional()
      .meta({ description: "Extra `ssh -o Key=Value` options, from an allow-list (timeouts, keep-alives, algorithms, which of your keys are offered, LogLevel); anything that runs a program, changes host-key checking or forwards is refused. Personal settings belong in ~/.ssh/config." }),
  })
  .meta({ description: "How to reach the machine over SSH. Your ~/.ssh/config applies too." });

export const Machine = z
  .strictObject({
    host: z
      .string()
      .refine((v) => isSshHost(v), 'must be an IP address, a host name or ~/.ssh/config alias (letters, digits, "_", ".", "-"; not starting with "-"), or `local`')
      .meta({ description: "IP address, host name or ~/.ssh/config alias (letters, digits, `_ . -`, not starting with `-`); `local` runs on this machine without SSH." }),
    port: Port.optional().meta({ description: "SSH port. Default: 22 (or what ~/.ssh/config says)." }),
    user: z.string().regex(SSH_USER, 'must be a user name (letters, digits, "_", ".", "-", not starting with "-"; at most 64 characters)').optional().meta({ description: "SSH user: root, or a user with passwordless sudo. Default: root." }),
    ssh: SshOptions.optional(),
    labels: z.array(Name).optional().meta({ description: "Labels used for placement (e.g. `web`, `db`)." }),
    private_address: z
      .string()
      .refine((v) => isIP(v) !== 0, "must be an IPv4 or IPv6 address (no port, no host name)")
      .optional()
      .meta({ description: "IPv4 or IPv6 address on the private network between machines. Instances bind here (or to loopback)." }),
    http_port: Port.optional().meta({ description: "Port of the public HTTP frontend (HAProxy) on this machine. Default: 80." }),
    https_port: Port.optional().meta({ description: "Port of the public HTTPS frontend (HAProxy) on this machine, used when a route has `tls`. Default: 443." }),
    firewall: z.boolean().optional().meta({ description: "skiff's nftables table (`table inet skiff`) on this machine: instance ports, mesh ports and the internal frontend on Docker's gateway accept only the project's machines (by `private_address`) and the machine itself. `false` when another firewall manager owns the machine (skiff then removes its table; any project saying `false` for a machine turns it off there). Default: true." }),
  })
  .meta({ description: "A Linux machine reached over SSH." });

export const Build = z
  .strictObject({
    context: z.string().optional().meta({ description: "Build context, relative to skiff.yml. Default: `.`" }),
    dockerfile: z.string().optional().meta({ description: "Dockerfile path relative to the context. Default: `Dockerfile`." }),
    args: z.record(z.string(), z.string()).optional().meta({ description: "Build arguments (`--build-arg`)." }),
  })
  .meta({ description: "Build the app's image from source with `docker build`." });

/** "512M", "1G", "300Ki"… or a number of bytes. */
export const Memory = z
  .union([
    z.number().int().min(MEMORY_MIN, "must be at least 6M (6291456 bytes)").max(MEMORY_MAX, "must be at most 1024T"),
    z.string().regex(/^\d+(\.\d+)?\s*([KMGT]i?B?|[kmgt]|B)?$/, 'must be a size such as "256M", "1G" or "512Mi"'),
  ])
  .refine((v) => inRange(v, parseMemory, MEMORY_MIN, MEMORY_MAX), "must be between 6M and 1024T")
  .meta({ description: 'A size: "256M", "1.5G", "512Mi", or a number of bytes; 6M–1024T (Docker refuses less than 6M).' });

export const Resources = z
  .strictObject({
    cpu: z.number().min(0.01).max(1024).optional().meta({ description: "CPUs per instance (e.g. 0.5); enforced as a CFS quota." }),
    memory: Memory.optional().meta({ description: "Memory per instance, 6M–1024T (Docker refuses less than 6M; 0 would mean no limit); an instance that goes over it is killed (and restarted), and status says so." }),
  })
  .meta({ description: "Limits for each instance: Docker limits for containers, cgroups for processes." });

export const AppLogs = z
  .strictObject({
    max_size: z
      .union([z.number().int().min(1024 * 1024, "must be at least 1M").max(1024 ** 4, "must be at most 1T"), z.string().regex(/^\d+(\.\d+)?\s*([KMGT]i?B?|[kmgt]|B)?$/, 'must be a size such as "50M" or "1G"')])
      .optional()
      .meta({ description: "What the app's kept logs (its instances' output and its requests in HAProxy) may take on each machine; the oldest tenth goes first when it is full. Default: 50M." }),
  })
  .meta({ description: "The app's logs kept on each machine (see `skiff logs`)." });

export const Artifact = z
  .union([
    z.string().min(1),
    z.strictObject({
      dir: z.string().min(1).meta({ description: "Directory to ship, relative to skiff.yml (after `build` ran)." }),
      build: z.string().min(1).optional().meta({ description: "Command run here (sh, in the directory of skiff.yml) before packing, e.g. `npm ci && npm run build`. Skipped when its inputs are unchanged: the command and the project directory, without skiff.yml, secrets/ and files: sources outside the artifact." }),
    }),
  ])
  .meta({ description: "What a process app ships: a directory (relative to skiff.yml), or `{ build, dir }`. Packed, content-hashed, sent only to the machines the app is placed on that lack it, unpacked once per machine; releases share its files (hard links, read-only to the app)." });

export const Health = z
  .strictObject({
    path: z
      .string()
      .refine(isCheckPath, "must be a URL path starting with / (letters, digits, - . _ ~ ! & ( ) * + , ; = : @ / ?, and %XX; no spaces, quotes, #, $ or backslashes)")
      .optional()
      .meta({ description: "HTTP path (and query) that answers 2xx/3xx when the instance is ready: starts with `/`; URL characters only, no spaces, quotes, `#`, `$` or backslashes. Default: `/healthz`; for a `protocol: tcp` app, none: its check is a TCP connect to its port." }),
    interval: duration(100, MS.h, "Time between checks. Default: 1s."),
    timeout: duration(1, 10 * MS.m, "Time one check may take. Default: 2s."),
    healthy_threshold: z.number().int().min(1).max(100).optional().meta({ description: "Consecutive passing checks before an instance takes traffic. Default: 2." }),
    deadline: duration(MS.s, 24 * MS.h, "How long a new instance has to become healthy before the deploy fails. Default: 60s."),
  })
  .meta({ description: "The health check that gates traffic and keeps running after the deploy." });

export const RouteTls = z
  .strictObject({
    cert: Line("the path").min(1).max(4096).optional().meta({ description: "PEM file in the repository (relative to skiff.yml): the certificate for the route's host, then its intermediates. With `key`; not with `auto`." }),
    key: EnvName.optional().meta({ description: "Name of the secret (secrets/<environment>.age) that holds the certificate's private key (PEM). With `cert`." }),
    auto: z.literal(true).optional().meta({ description: "Get the certificate over ACME (HTTP-01) and renew it on the machines (`acme` settings); the same as `tls: auto`, with room for `hsts`." }),
    hsts: z
      .union([z.boolean(), z.number().int().min(0).max(63072000)])
      .optional()
      .meta({ description: "Send Strict-Transport-Security on HTTPS answers: `true` (max-age one year) or a max-age in seconds. Default: off." }),
  })
  .meta({ description: "Serve the route over HTTPS (HAProxy's https_port) with this certificate; plain HTTP requests for it are redirected (301)." });

export const Acme = z
  .strictObject({
    directory: z
      .string()
      .regex(/^https:\/\/[^\s"'\\]+$/, "must be an https:// URL")
      .max(2048)
      .optional()
      .meta({ description: "The ACME directory URL. Default: Let's Encrypt (https://acme-v02.api.letsencrypt.org/directory)." }),
    email: z.string().regex(/^[^\s@"'<>]+@[^\s@"'<>]+$/, "must be an email address").max(254).optional().meta({ description: "Contact address given to the CA with the account (expiry notices)." }),
    ca: Line("the path").min(1).max(4096).optional().meta({ description: "PEM file in the repository (relative to skiff.yml): the CA to trust for the directory's own HTTPS, for a private ACME server (step-ca, pebble). Default: the machines' usual trust." }),
  })
  .meta({ description: "Where `tls: auto` routes get their certificates (the project's ACME account)." });

export const Route = z
  .strictObject({
    host: z
      .string()
      .refine(isRouteHost, 'must be a lowercase host name such as "shop.example.com" (letters, digits, "-", "."; no port, wildcard or spaces)')
      .optional()
      .meta({ description: "Host name to match exactly (the `Host` header, without its port): lowercase letters, digits, `-` and `.`. Default: any host." }),
    path: z
      .string()
      .refine(isRoutePath, "must be a URL path starting with / (letters, digits, - . _ ~ ! & ( ) * + , ; = : @ /, and %XX; no spaces, quotes, #, ?, $ or backslashes)")
      .optional()
      .meta({ description: "Path prefix to match: starts with `/`; URL path characters only, no query, spaces, quotes, `#`, `$` or backslashes. Default: `/`." }),
    tls: z.union([z.literal("auto"), RouteTls]).optional().meta({ description: "HTTPS for this route: `auto` (a certificate over ACME, renewed by the machines) or `{ cert, key }` from the repo; `hsts` either way." }),
  })
  .meta({ description: "Public traffic that reaches the app through HAProxy on each machine." });

export const DeploySettings = z
  .strictObject({
    max_parallel: z
      .union([z.number().int().min(1).max(1000), z.string().regex(/^(100|[1-9][0-9]?)%$/, 'must be a whole number of machines or a share such as "25%" (1% to 100%)')])
      .optional()
      .meta({ description: 'Machines switched at a time in each wave after the canary wave: a number of machines, or a share of the project\'s machines such as "25%" (rounded up; machines that run none of the app come in the last waves). `1` switches one machine at a time. Default: "50%".' }),
    canary: z.number().int().min(0).max(100).optional().meta({ description: "Machines in the first wave, switched alone before any other (0: no canary wave). A release that fails its health gate there stops the rollout having touched only them. Default: 1." }),
    canary_wait: duration(0, MS.h, "After the canary wave switches, how long its new instances are watched before the next wave starts: one that crashes, restarts or fails its health checks meanwhile stops the rollout and every switched machine goes back. Default: 0s (the health gate alone)."),
    drain_timeout: duration(1, 24 * MS.h, "How long open requests may take to finish on an old instance before it stops. Default: 30s."),
    stop_timeout: duration(MS.s, 24 * MS.h, "Time between SIGTERM and SIGKILL when an instance stops. Default: 10s."),
    keep_warm: z.boolean().optional().meta({ description: "Keep the previous release's instances running (as HAProxy backups) until the next deploy, so a rollback is a pure traffic flip. Default: false." }),
    probation: duration(1, 24 * MS.h, "After a switch, the previous release stays running as a backup this long: it takes traffic only if every new instance goes down, and a rollback meanwhile is instant. Default: 30s."),
    keep_releases: z.number().int().min(2).max(100).optional().meta({ description: "Releases kept on each machine for rollback (older ones and their images are pruned). Default: 10." }),
  })
  .meta({ description: "How a new release replaces the old one." });

/** Where a file or volume goes in an instance. `:` would split Docker's bind spec; `..` leaves the place meant. */
const InstancePath = Line("a path")
  .min(1)
  .max(4096)
  .refine((v) => !v.includes(":"), 'must not contain ":"')
  .refine((v) => !v.split("/").includes(".."), 'must not contain ".."')
  // "." or "./" is the working directory itself (a volume there replaces it; a file there becomes a link
  // named after its source); "/" is the container's root. Neither is a place for one file or volume.
  .refine((v) => !["", ".", "/"].includes(posix.normalize(v).replace(/(.)\/$/, "$1")), 'must name a path inside, not "." or "/" itself');

export const FileEntry = z
  .union([
    z.string().min(1),
    z.strictObject({
      source: z.string().min(1).meta({ description: "File in the repository, relative to skiff.yml." }),
      mode: z.string().regex(/^0?[0-7]{3}$/, 'must be an octal mode such as "0644" or "0600"').optional().meta({ description: 'File mode on the machine. Default: "0600" for a templated file (it may hold secrets), "0644" otherwise. The file belongs to the app\'s user.' }),
      template: z.boolean().optional().meta({ description: "Replace ${NAME} with the app's env and secret values ($${ for a literal ${). Default: false." }),
    }),
  ])
  .meta({ description: "A file shipped with the release: the source path, or { source, mode, template }." });

export const Hooks = z
  .strictObject({
    pre_deploy: z.string().min(1).optional().meta({ description: "Command run once per deploy, in a one-off instance of the new release (same image or artifact, env and secrets) on the first machine, before any traffic moves — e.g. migrations. A non-zero exit aborts the deploy and prints its output." }),
    timeout: duration(MS.s, 24 * MS.h, "How long the pre_deploy command may run. Default: 10m."),
  })
  .meta({ description: "Commands around a deploy." });

export const AppSecrets = z
  .union([z.array(EnvName), z.record(EnvName, EnvName)])
  .meta({ description: "Secrets given to instances as environment variables: a list of names (`[DB_PASSWORD]`), or a map ENV_NAME → SECRET_NAME. Values live encrypted in secrets/<environment>.age (`skiff secrets set`)." });

export const SecretsSettings = z
  .strictObject({
    recipients: z
      .array(
        z.string().superRefine((v, ctx) => {
          const problem = recipientProblem(v);
          if (problem) ctx.addIssue({ code: "custom", message: problem });
        }),
      )
      .meta({ description: "The team's age public keys: every secrets file is encrypted to all of them (`skiff secrets keygen` prints yours)." }),
  })
  .meta({ description: "Who can read the project's secrets." });

/** A cron expression as croner reads it (5 fields, or 6 with seconds first). */
function isCron(v: string): boolean {
  try {
    new Cron(v, { paused: true });
    return v.trim().split(/\s+/).length >= 5;
  } catch {
    return false;
  }
}

const BACKUP_TO = /^(s3:https?:\/\/[^\s"'\\]+|\/[^\s:"'\\]*|[a-z][a-z0-9-]{0,62}(:\/[^\s:"'\\]*)?)$/;

export const Backups = z
  .strictObject({
    kind: z.enum(["postgres", "redis", "volumes"]).optional().meta({ description: "What is backed up. `postgres`: every database, dumped consistently (pg_dumpall in the running instance) and streamed into the backup; restored with psql. `redis`: a point-in-time RDB from the running server (redis-cli --rdb); restored as dump.rdb in its first volume (which must be redis' --dir) while it is stopped. `volumes`: the files of its volumes, modes and owners kept. Default: volumes." }),
    schedule: Line("a schedule")
      .refine(isCron, 'must be a cron expression such as "0 3 * * *" (minute hour day month weekday, in the machine\'s time zone; a sixth field in front for seconds)')
      .optional()
      .meta({ description: 'When backups run, as cron: "0 3 * * *" is every day at 03:00 (the machine\'s time zone). Run by the agent with no CLI connected. Default: "0 3 * * *".' }),
    keep: z
      .strictObject({
        last: z.number().int().min(0).max(1000).optional().meta({ description: "The newest N backups." }),
        daily: z.number().int().min(0).max(1000).optional().meta({ description: "The last backup of each of the last N days that have one." }),
        weekly: z.number().int().min(0).max(1000).optional().meta({ description: "Likewise per week." }),
        monthly: z.number().int().min(0).max(1000).optional().meta({ description: "Likewise per month." }),
      })
      .optional()
      .meta({ description: "Which backups are kept after each run (restic's forget policy; a backup kept by any rule stays). Default: { daily: 7, weekly: 4, monthly: 6 }." }),
    to: z
      .string()
      .regex(BACKUP_TO, 'must be a machine of the project ("m3" or "m3:/path"), an absolute directory ("/srv/backups") or an S3 URL ("s3:https://host/bucket/prefix")')
      .meta({ description: "Where the backups go: another machine of the project (`m3`, or `m3:/path`: over SFTP to its private_address, port 22, as the user skiff-backup that setup makes there), a directory on the service's own machine (`/srv/backups`), or an S3-compatible bucket (`s3:https://host/bucket/prefix`, credentials AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the secrets). Encrypted either way (restic)." }),
    password_secret: EnvName.optional().meta({ description: "The secret (secrets/<environment>.age) whose value encrypts the backups: without it no backup can be read, so it lives in the repository's secrets, not on the machines only. Default: BACKUP_PASSWORD." }),
  })
  .meta({ description: "Scheduled, encrypted backups with a retention policy (restic); `skiff backup run|list|restore`." });

export const App = z
  .strictObject({
    image: z.string().min(1).optional().meta({ description: "Image to run as is (e.g. `nginx:1.27`). Give one of `image`, `build` or `run`." }),
    build: Build.optional(),
    run: z.string().min(1).optional().meta({ description: "Run the app as processes (no container): this command line, run by sh in the release's working directory with PORT and HOST set. Give one of `image`, `build` or `run`." }),
    artifact: Artifact.optional(),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, "must be a user name").optional().meta({ description: "Process apps: the user the command runs as (it must exist on the machine). Default: a system user of the app's own, `skiff_<project>_<app>` (made by the agent and marked with the comment `skiff app <project>/<app>`; past 32 characters a prefix, `__` and a hash; an existing account of that name without the mark is refused), so apps cannot read or signal each other. `root` runs the app as root." }),
    port: Port.optional().meta({ description: "Port the app listens on inside its container. Default: 3000. (Process apps listen on the PORT skiff gives them.)" }),
    protocol: z.enum(["http", "tcp"]).optional().meta({ description: "What the app speaks. `http`: reached at `http://APP.internal/` and through its public routes. `tcp` (Postgres, Redis, gRPC…): reached at `APP.internal:INTERNAL_PORT` on every machine of the project, load-balanced by connection; no public routes; health is a TCP connect unless `health.path` is given. Default: http." }),
    internal_port: Port.refine((p) => p !== 80, "must not be 80: HTTP internal names use port 80 on the same addresses")
      .optional()
      .meta({ description: "TCP apps: the port the app's internal names serve on (`users.internal:5432`), on every machine of the project. Unique among the TCP apps of a machine (all projects); not 80. Default: the app's `port`." }),
    resources: Resources.optional(),
    instances: z.number().int().min(0).max(1000).optional().meta({ description: "Instances in all, placed over the app's eligible machines (see strategy). Default: one per eligible machine. `skiff scale app=N` changes it for the running release." }),
    machines: z.array(Name).min(1).optional().meta({ description: "Machines this app may run on. Default: all." }),
    labels: z.array(Name).optional().meta({ description: "Only machines carrying every one of these labels are eligible." }),
    strategy: z.enum(["spread", "binpack"]).optional().meta({ description: "spread: as even as possible (more room first); binpack: fill the fullest machine that still fits first. Declared resources are checked against each machine's capacity either way. Default: spread." }),
    health: Health.optional(),
    routes: z.array(Route).optional().meta({ description: "Public routes. An app without routes gets no public traffic." }),
    env: Env.optional(),
    secrets: AppSecrets.optional(),
    files: z.record(InstancePath, FileEntry).optional().meta({ description: "Files in each instance, by path (absolute in a container; relative to the working directory for a process app), taken from the repository at deploy and kept in the release." }),
    volumes: z.record(Name, InstancePath).optional().meta({ description: "Named volumes, name → path (absolute in a container; relative to the working directory for a process app). One per app and machine; they survive deploys, rollbacks and `skiff remove`." }),
    hooks: Hooks.optional(),
    deploy: DeploySettings.optional(),
    logs: AppLogs.optional(),
    backups: Backups.optional().meta({ description: "Backups of the app's volumes on each machine it runs on (kind: volumes)." }),
  })
  .meta({ description: "A stateless service: one image (or one command and its files), any number of instances." });

export const Accessory = z
  .strictObject({
    machine: Name.meta({ description: "The machine it runs on: one instance there, never spread, scaled or rolled." }),
    image: App.shape.image,
    build: App.shape.build,
    run: z.string().min(1).optional().meta({ description: "Run it as a process (no container): this command line, run by sh in the release's working directory with PORT and HOST set — e.g. Debian's postgres or redis-server installed on the machine. Give one of `image`, `build` or `run`." }),
    artifact: App.shape.artifact,
    user: App.shape.user,
    port: App.shape.port,
    protocol: z.enum(["http", "tcp"]).optional().meta({ description: "What it speaks. `tcp` (the default for accessories): reached at `NAME.internal:INTERNAL_PORT` on every machine of the project. `http`: at `http://NAME.internal/`." }),
    internal_port: App.shape.internal_port,
    resources: App.shape.resources,
    health: App.shape.health,
    env: App.shape.env,
    secrets: App.shape.secrets,
    files: App.shape.files,
    volumes: App.shape.volumes,
    stop_timeout: duration(MS.s, 24 * MS.h, "Time between the stop signal and SIGKILL when it stops (a database flushes to disk meanwhile). Default: 30s."),
    stop_signal: z.enum(["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"]).optional().meta({ description: "The signal that asks it to stop. Postgres: SIGINT (a fast shutdown: open sessions are closed, not waited for; with SIGTERM it waits for every client to leave). Default: SIGTERM." }),
    keep_releases: z.number().int().min(2).max(100).optional().meta({ description: "Releases kept on its machine for rollback. Default: 10." }),
    logs: App.shape.logs,
    backups: Backups.optional(),
  })
  .meta({ description: "A stateful service (a database, a cache) pinned to one machine. An upgrade is stop → start on the same volumes, never two at once; `skiff deploy` asks for --yes before it restarts one." });

export const AccessoryOverlay = Accessory.partial()
  .meta({ description: "Overrides for one accessory in this environment; `env` is merged key by key, the rest replaces." });

export const MetricsSettings = z
  .strictObject({
    listen: z.boolean().optional().meta({ description: "Serve the agents' Prometheus exposition at `http://<private_address>:<port>/metrics` on every machine that has a `private_address`, reachable only from the `allow` addresses (skiff's firewall). Default: false (`skiff metrics` reads it over SSH either way)." }),
    port: Port.refine((p) => p < 20000 || p > 29999, "must be outside 20000–29999 (instance ports)")
      .optional()
      .meta({ description: `TCP port of /metrics on the machines' private addresses. Default: ${DEFAULT_METRICS_PORT}.` }),
    allow: z
      .array(z.string().refine((v) => isIP(v) !== 0 && !v.includes("%"), "must be an IPv4 or IPv6 address (no port, no range)"))
      .max(1000)
      .optional()
      .meta({ description: "Addresses of the scrapers (your Prometheus) that may reach the port; nobody else can. Default: none (only the machine itself)." }),
  })
  .meta({ description: "Metrics for a scraper: `skiff metrics --prometheus-config` prints the scrape config. Replaced whole by an environment's `metrics`." });

/** A share: "5%" or a number between 0 and 1. */
const Share = z.union([z.number().min(0).max(1), z.string().regex(/^\d{1,3}(\.\d+)?%$/, 'must be a percentage such as "5%" or a number between 0 and 1').refine((v) => parseFloat(v) <= 100, "must be at most 100%")]);
const For = (dflt: string) => duration(0, 24 * MS.h, `How long the condition must hold before the alert fires. Default: ${dflt}.`);
const Window = (dflt: string) => duration(10 * MS.s, MS.h, `The span the numbers are taken over. Default: ${dflt}.`);
const off = z.literal(false);
const onOrOff = z.boolean();

export const AlertReceiver = z
  .strictObject({
    webhook: z
      .string()
      .regex(/^https?:\/\/[^\s"'\\]+$/, "must be an http:// or https:// URL")
      .max(2048)
      .optional()
      .meta({ description: "POST the alert as JSON to this URL (docs/alerts.md shows the body). A URL with a token in it (Slack's) belongs in `webhook_secret`." }),
    webhook_secret: EnvName.optional().meta({ description: "Name of the secret (secrets/<environment>.age) that holds the webhook URL; the machines keep it 0600, it is never printed." }),
    slack: z.boolean().optional().meta({ description: "Send Slack's incoming-webhook body (`{\"text\": …}`) instead of skiff's JSON. Default: false." }),
    command: z
      .array(z.string().min(1).max(4096))
      .min(1)
      .max(64)
      .optional()
      .meta({ description: "Run this program on the sending machine (argv, no shell) with the alert's JSON on stdin; exit 0 means delivered." }),
  })
  .refine((r) => [r.webhook, r.webhook_secret, r.command].filter((x) => x !== undefined).length === 1, "give exactly one of webhook, webhook_secret or command")
  .refine((r) => !(r.slack && r.command), "slack: true goes with a webhook, not a command")
  .meta({ description: "Where alerts go: a webhook (JSON or Slack) or a command on the machine." });

export const AlertRulesInput = z
  .strictObject({
    error_rate: z
      .union([off, z.strictObject({ above: Share.optional().meta({ description: "Share of requests answered 5xx. Default: 5%." }), for: For("2m"), window: Window("1m"), min_requests: z.number().int().min(0).optional().meta({ description: "Fewer requests than this in the window never fire. Default: 20." }) })])
      .optional()
      .meta({ description: "An app's 5xx responses over its requests, all machines together. `false` switches it off." }),
    latency_p95: z
      .union([off, z.strictObject({ above: duration(1, 10 * MS.m, "The 95th percentile response time that is too slow. Default: 2s."), for: For("5m"), window: Window("5m"), min_requests: z.number().int().min(0).optional().meta({ description: "Default: 20." }) })])
      .optional()
      .meta({ description: "An app's 95th percentile response time (all machines). `false` switches it off." }),
    restarts: z
      .union([off, z.strictObject({ above: z.number().int().min(0).max(10000).optional().meta({ description: "Restarts that are fine. Default: 3." }), within: duration(MS.m, MS.h, "Default: 10m.") })])
      .optional()
      .meta({ description: "An app's instances restarted more than `above` times within `within` (crash loops)." }),
    oom: z
      .union([onOrOff, z.strictObject({ within: duration(MS.m, MS.h, "Default: 10m.") })])
      .optional()
      .meta({ description: "An app's instance killed for lack of memory within `within`." }),
    disk: z
      .union([off, z.strictObject({ above: Share.optional().meta({ description: "Default: 90%." }), for: For("1m") })])
      .optional()
      .meta({ description: "A machine's disk (/ and skiff's state) fuller than `above`." }),
    memory: z
      .union([off, z.strictObject({ above: Share.optional().meta({ description: "Default: 95%." }), for: For("5m") })])
      .optional()
      .meta({ description: "A machine's memory in use (not available) above `above`." }),
    machine_down: z
      .union([off, z.strictObject({ for: For("1m") })])
      .optional()
      .meta({ description: "A machine whose agent its peers cannot reach." }),
    certificate: z
      .union([off, z.strictObject({ days: z.number().int().min(1).max(365).optional().meta({ description: "Days before its end a certificate is worth an alert. Default: 14." }) })])
      .optional()
      .meta({ description: "An HTTPS certificate of a route ends within `days`, or its `tls: auto` renewal fails." }),
    deploy_failed: onOrOff.optional().meta({ description: "An app's last deploy failed or it was rolled back (resolves at the next good deploy). Default: on." }),
    backup_failed: onOrOff.optional().meta({ description: "A service's last backup failed, scheduled or asked for (its target down, a dump that failed…); resolves at the next good one (a failure followed by a good run within a round still fires, for three rounds). Default: on." }),
  })
  .meta({ description: "The rules, all on by default with the defaults shown; `false` switches one off." });

export const AlertsSettings = z
  .strictObject({
    to: z.array(AlertReceiver).max(20).optional().meta({ description: "Receivers. Without any, alerts are still evaluated and listed by `skiff alerts`, and sent nowhere." }),
    rules: AlertRulesInput.optional(),
    interval: duration(MS.s, 10 * MS.m, "How often the machines evaluate the rules. Default: 10s."),
    enabled: z.boolean().optional().meta({ description: "`false` turns alerting off for the project. Default: true." }),
  })
  .meta({ description: "Alerts evaluated by the agents (no CLI connected), sent once per project. Replaced whole by an environment's `alerts`." });

/** What an environment may override. Machines are swapped whole; apps and env are merged. */
export const AppOverlay = z
  .strictObject({
    image: App.shape.image,
    build: App.shape.build,
    run: App.shape.run,
    artifact: App.shape.artifact,
    user: App.shape.user,
    port: App.shape.port,
    protocol: App.shape.protocol,
    internal_port: App.shape.internal_port,
    resources: App.shape.resources,
    instances: App.shape.instances,
    machines: App.shape.machines,
    labels: App.shape.labels,
    strategy: App.shape.strategy,
    health: App.shape.health,
    routes: App.shape.routes,
    env: App.shape.env,
    secrets: App.shape.secrets,
    files: App.shape.files,
    volumes: App.shape.volumes,
    hooks: App.shape.hooks,
    deploy: App.shape.deploy,
    logs: App.shape.logs,
    backups: App.shape.backups,
  })
  .meta({ description: "Overrides for one app in this environment; `env` is merged key by key, the rest replaces." });

export const Environment = z
  .strictObject({
    machines: z.record(Name, Machine).optional().meta({ description: "Replaces the base machines entirely in this environment." }),
    apps: z.record(Name, AppOverlay).optional().meta({ description: "Per-app overrides." }),
    accessories: z.record(Name, AccessoryOverlay).optional().meta({ description: "Per-accessory overrides (another machine, image, env…)." }),
    env: Env.optional().meta({ description: "Environment variables added to every app in this environment." }),
    metrics: MetricsSettings.optional(),
    alerts: AlertsSettings.optional(),
  })
  .meta({ description: "A named overlay selected with `-e NAME`." });

export const Config = z
  .strictObject({
    project: Name.meta({ description: "Project name; prefixes containers, backends and state on the machines." }),
    machines: z.record(Name, Machine).meta({ description: "The machines, by name." }),
    apps: z.record(Name, App).optional().meta({ description: "The apps, by name." }),
    accessories: z.record(Name, Accessory).optional().meta({ description: "Stateful services (Postgres, Redis) pinned to one machine each, by name; apps reach them at NAME.internal." }),
    env: Env.optional().meta({ description: "Environment variables given to every app." }),
    secrets: SecretsSettings.optional(),
    metrics: MetricsSettings.optional(),
    alerts: AlertsSettings.optional(),
    acme: Acme.optional(),
    environments: z.record(Name, Environment).optional().meta({ description: "Named overlays: `skiff deploy -e staging`." }),
  })
  .meta({ title: "skiff.yml", description: "A skiff project: machines, apps and environments." });

export type ConfigInput = z.input<typeof Config>;
export type MachineInput = z.input<typeof Machine>;
export type AppInput = z.input<typeof App>;
export type AccessoryInput = z.input<typeof Accessory>;
export type EnvironmentInput = z.input<typeof Environment>;
