// Which ssh_config keywords skiff.yml may set under `machines.<m>.ssh.options`.
//
// An allow-list, because skiff.yml is shared (a pull request can change it)
// and ssh has many keywords that run a program (ProxyCommand, LocalCommand,
// KnownHostsCommand, PKCS11Provider, SecurityKeyProvider, XAuthLocation, Match
// exec), defeat host-key pinning (StrictHostKeyChecking, UserKnownHostsFile,
// HostKeyAlias, VerifyHostKeyDNS, NoHostAuthenticationForLocalhost, …), take
// over the connection sharing skiff owns (ControlMaster/Path/Persist,
// BatchMode), forward things (agent, X11, ports, tunnels, SendEnv/SetEnv), or
// read files the config picks (Include, CertificateFile, IdentityAgent, …).
// A new ssh keyword is therefore refused until someone decides it is harmless.
//
// Keywords with their own field in skiff.yml (host, port, user,
// ssh.identity_file, ssh.proxy_jump) are set there, not here. Personal
// settings (an agent socket, a certificate) belong in ~/.ssh/config.

const ALLOWED = [
  // Timing and keep-alives.
  "ConnectTimeout",
  "ConnectionAttempts",
  "ServerAliveInterval",
  "ServerAliveCountMax",
  "TCPKeepAlive",
  "RekeyLimit",
  // Network path on this side.
  "AddressFamily",
  "BindAddress",
  "BindInterface",
  "IPQoS",
  "Compression",
  // Algorithms: host keys are still verified against known_hosts whatever
  // algorithm is picked.
  "Ciphers",
  "MACs",
  "KexAlgorithms",
  "HostKeyAlgorithms",
  "PubkeyAcceptedAlgorithms",
  "PubkeyAcceptedKeyTypes",
  "CASignatureAlgorithms",
  "RequiredRSASize",
  // Which of the user's own credentials are offered (BatchMode stays on, so
  // nothing can prompt).
  "IdentitiesOnly",
  "PreferredAuthentications",
  "PubkeyAuthentication",
  "GSSAPIAuthentication",
  // For troubleshooting; goes to the local stderr only.
  "LogLevel",
] as const;

/** Allowed keywords, lowercase (ssh matches keywords case-insensitively). */
export const SSH_OPTIONS_ALLOWED: ReadonlySet<string> = new Set(ALLOWED.map((k) => k.toLowerCase()));

/** Keywords with a field of their own in skiff.yml, and where to set them. */
const OWN_FIELD: Record<string, string> = {
  hostname: "host",
  port: "port",
  user: "user",
  identityfile: "ssh.identity_file",
  proxyjump: "ssh.proxy_jump",
};

// In these lists a leading '-' is ssh's "remove from the default set"
// (e.g. `Ciphers: -chacha20-poly1305@openssh.com`). It is safe: the value is
// always passed as part of one `-o Key=Value` argument, never on its own.
const ALGORITHM_LISTS = new Set(["ciphers", "macs", "kexalgorithms", "hostkeyalgorithms", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes", "casignaturealgorithms"]);

// Printable ASCII without quotes, backslash or '#' (ssh's own config parser
// gives those meaning), no leading or trailing space.
const VALUE = /^[!$-&(-[\]-~]([ !$-&(-[\]-~]*[!$-&(-[\]-~])?$/;

/** What is wrong with `-o key=value` from skiff.yml, or undefined if it may be used. */
export function sshOptionProblem(key: string, value: string | number): string | undefined {
  const k = key.toLowerCase();
  if (Object.hasOwn(OWN_FIELD, k)) return `ssh option ${key} has its own field: set machines.<name>.${OWN_FIELD[k]} instead`;
  if (!SSH_OPTIONS_ALLOWED.has(k)) return `ssh option ${key} cannot be set in skiff.yml (allowed: ${ALLOWED.join(", ")}); put personal settings in ~/.ssh/config`;
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? undefined : `ssh option ${key}: ${value} is not a whole number`;
  if (/[\x00-\x1f\x7f]/.test(value)) return `ssh option ${key}: the value contains a newline or control character`;
  if (value.startsWith("-") && !ALGORITHM_LISTS.has(k)) return `ssh option ${key}: the value must not start with "-"`;
  if (!VALUE.test(value)) return `ssh option ${key}: ${JSON.stringify(value)} is not a plain value (printable characters without quotes, backslashes, '#' or surrounding spaces)`;
  return undefined;
}
