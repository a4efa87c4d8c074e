// How the dashboard writes its figures. A figure not known yet is an en dash.
import type { Usage } from './types';

const NONE = '–';

function known(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function bitrate(bps: number | null | undefined): string {
  if (!known(bps)) return NONE;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  if (bps >= 1e3) return `${Math.round(bps / 1e3)} kbit/s`;
  return `${Math.round(bps)} bit/s`;
}

export function fps(v: number | null | undefined): string {
  return known(v) ? v.toFixed(v >= 10 ? 0 : 1) : NONE;
}

export function ms(v: number | null | undefined): string {
  return known(v) ? `${Math.round(v)} ms` : NONE;
}

/** A 0–1 loss fraction as a percentage. */
export function loss(v: number | null | undefined): string {
  if (!known(v)) return NONE;
  const pct = v * 100;
  return `${pct < 1 && pct > 0 ? pct.toFixed(2) : pct.toFixed(1)} %`;
}

export function step(v: number | null | undefined): string {
  return known(v) ? String(v) : NONE;
}

export function age(msAgo: number | null | undefined): string {
  if (!known(msAgo)) return NONE;
  return msAgo < 60_000 ? `${(msAgo / 1000).toFixed(1)} s` : `${Math.round(msAgo / 60_000)} min`;
}

export function cpu(used: Usage, total: Usage): string {
  return `${used.cpu_cores} / ${total.cpu_cores} cores`;
}

export function memory(used: Usage, total: Usage): string {
  const gib = (mb: number) => (mb >= 1024 ? `${(mb / 1024).toFixed(1)} GiB` : `${mb} MiB`);
  return `${gib(used.memory_mb)} / ${gib(total.memory_mb)}`;
}

/** Encoder slots in use per GPU, or that the node declares none. */
export function gpus(used: Usage, total: Usage): string {
  if (total.gpu_slots.length === 0) return 'none declared';
  return total.gpu_slots.map((t, i) => `${used.gpu_slots[i] ?? 0}/${t}`).join(', ');
}

/** The first eight characters of an id: enough to tell sessions apart on screen. */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}
