// An error as people read it: what happened, then what to do.
import { ApiError } from './api';

export function ProblemNote({ error, onRetry }: { error: ApiError | Error; onRetry?: () => void }) {
  const api = error instanceof ApiError ? error : null;
  return (
    <div className="problem" role="alert">
      <strong>{api ? api.title : 'Error'}</strong>
      {api?.detail ? <span>: {api.detail}</span> : !api ? <span>: {error.message}</span> : null}
      <p className="advice">{api ? api.advice : 'Try again; if it keeps happening, reload the page.'}</p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** "cached 3 min ago", for data shown from the cache. */
export function CachedMark({ at, offline }: { at: number | null; offline?: boolean }) {
  if (at === null) return null;
  return (
    <span className="cached" title={new Date(at).toLocaleString()}>
      cached {ago(at)}
      {offline ? ' (offline)' : ' (updating…)'}
    </span>
  );
}

export function ago(at: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
