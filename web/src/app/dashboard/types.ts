// The dashboard snapshot the events WebSocket pushes to a subscribed admin
// (`{"type":"dashboard", …}`, docs/API.md "Dashboard"). Each part has the
// shape of the REST route it comes from.

export interface Usage {
  cpu_cores: number;
  memory_mb: number;
  gpu_slots: number[];
}

export interface Budget {
  total: Usage;
  used: Usage;
}

export interface Containment {
  mechanism?: string;
  kill?: string;
  enforced?: string[];
  fallback_reason?: string;
}

/** This node, as GET /api/v1/node shows it, and whether it drains. */
export interface LocalNode {
  id: string;
  sessions: number;
  budget: Budget;
  cache: { backend: string; live_nodes: string[] | null };
  containment: Containment;
  draining: boolean;
}

/** A node's heartbeat, as GET /api/v1/nodes shows it, with its age. */
export interface FleetNode {
  node: string;
  address: string;
  sessions: number;
  draining: boolean;
  runnable: Record<string, string>;
  containment?: Containment;
  budget: Budget;
  /** How long ago it last beat (the database's record); null when unknown. */
  heartbeat_age_ms: number | null;
}

/** The quality monitor's latest sample (docs/SIGNALING.md, `quality`). */
export interface Quality {
  rtt_ms?: number | null;
  loss?: number | null;
  jitter_ms?: number | null;
  sent_bps?: number | null;
  estimate_bps?: number | null;
  target_bps?: number | null;
  ladder_step?: number | null;
  fps?: number | null;
  capture_fps?: number | null;
  dropped_frames?: number | null;
  at?: string;
}

export interface DashboardSession {
  id: string;
  owner: string;
  game: string;
  pipeline: string;
  node: string;
  state: string;
  reason?: string;
  version: number;
  viewers: string[];
  created_at: string;
  updated_at: string;
  quality?: Quality | null;
  /** The encoder its node uses for its pipeline. */
  encoder: string | null;
}

export interface DashboardPipeline {
  name: string;
  description: string | null;
  runnable: boolean;
  encoder: string | null;
  loaded_at_unix: number | null;
  path?: string;
  encoder_choice?: string | null;
  notes?: string[];
  /** The last reload's error (`file:line: …`); the last good version still serves. */
  error?: string | null;
}

export interface Snapshot {
  type: 'dashboard';
  at: string;
  node: LocalNode;
  nodes: FleetNode[];
  sessions: DashboardSession[];
  pipelines: DashboardPipeline[];
  /** A part that could not be read, and why. */
  unavailable: Record<string, string>;
}
