// The package entry: `import { Skiff, defineConfig } from "skiff"`.
// The same as the CLI, typed: open a project, deploy, roll back, scale, remove,
// read status and history, handle the lock, set up and check machines; progress
// as events; failures as UserError / RemoteError / InternalError.
export { defineConfig } from "./api/config.ts";
export type { AppConfig, MachineCapacity, PlacementContext, PlacementFunction, SkiffConfig } from "./api/config.ts";
export { Skiff } from "./api/skiff.ts";
export type {
  AppOutcome, CallOptions, ChangeOptions, CheckRow, DeployOptions, DeployPhases, DeployPlan, RemovePlan, RemoveResult, RollbackPlan, ScalePlan, DeployResult, History, LockState, MachineLoad, MachineSetupResult, MachineState,
  AgeIdentity, BuildOptions, BuiltImage, EnvDiff, EnvDifference, SecretInfo, SecretSet, SecretsWrite, SecretUnset,
  OpenOptions, RollbackOptions, RollbackOutcome, RollbackPhases, RollbackResult, RolloutResult, ScaleOutcome, ScaleResult, SetupOptions, TrustOptions, TrustResult, ValidateResult,
} from "./api/skiff.ts";
export type { ExecOptions, ReachOptions, ReachResult, RestartOptions, RestartOutcome, RestartPlan, RestartResult } from "./api/skiff.ts";
export type { ExportK8sOptions, ExportK8sResult, ExportNote, K8sObject } from "./api/skiff.ts";
export type { AppStatus, InstanceStatus, MachineStatus, MachineUnreachable } from "./api/status.ts";
export type { TlsStatus } from "./api/cert-status.ts";
export type { AutoFacts, CertFacts, TlsHostFacts } from "./contracts/tls-facts.ts";
export { isUnreachable } from "./api/status.ts";
export type { HistoryRow } from "./api/history.ts";
export type { Change } from "./api/diff.ts";
export type { EventListener, SkiffEvent, StepStatus } from "./api/events.ts";
export type { ProjectSource } from "./api/project.ts";
export type { AppSpec, MachineSpec, Project } from "./config/model.ts";
export type { HostSettings } from "./settings.ts";
export type { MachineFacts } from "./api/machines.ts";
export type { LockInfo } from "./api/lock.ts";
export { InternalError, UserError, formatDiagnostic, typedError, type Diagnostic } from "./errors.ts";
export { RemoteError } from "./transport/remote-error.ts";
export { AgentRefused } from "./transport/agent-client.ts";
