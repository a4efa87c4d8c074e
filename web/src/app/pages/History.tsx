// The player's sessions, newest first (GET /api/v1/sessions), cached.
import { useCallback } from 'react';
import { useAuth } from '../auth/AuthContext';
import { useCached } from '../cache/useCached';
import { useSessionEvents } from '../events/EventsContext';
import { CachedMark, ProblemNote } from '../Problem';
import { Link } from '../router';
import { duration, gameTitle, isRunning, listGames, listSessions } from '../sessions';

export function HistoryPage() {
  const auth = useAuth();
  const user = auth.me?.user_id ?? '';
  const history = useCached('history', user, () => listSessions(auth.token));
  const library = useCached('library', user, () => listGames(auth.token));
  useSessionEvents(useCallback(() => history.reload(), [history.reload]));
  const rows = history.data ?? [];
  return (
    <section className="panel" aria-labelledby="history-title">
      <div className="title-row">
        <h1 id="history-title">History</h1>
        <CachedMark at={history.cachedAt} offline={auth.offline || history.error?.kind === 'network'} />
      </div>
      {history.error && <ProblemNote error={history.error} onRetry={history.reload} />}
      {history.loading && !history.data && <p role="status">Loading your sessions…</p>}
      {history.data && rows.length === 0 && <p>No sessions yet: launch a game from the library.</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="history">
            <caption className="visually-hidden">Your sessions, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Game</th>
                <th scope="col">Started</th>
                <th scope="col">Length</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.id}>
                  <td>
                    {gameTitle(library.data, s.game)}
                    {s.owner !== user && <span className="note"> (shared by {s.owner})</span>}
                  </td>
                  <td>
                    <time dateTime={s.created_at}>{new Date(s.created_at).toLocaleString()}</time>
                  </td>
                  <td>{isRunning(s) ? 'running' : duration(s)}</td>
                  <td>
                    <span className={`state state-${s.state}`}>{s.state === 'cleanup' ? 'ended' : s.state}</span>
                    {(s.reason || s.stats?.ended) && (
                      <span className="note"> {s.stats?.ended?.replace(/^ended\s+/, '') ?? s.reason?.replace(/_/g, ' ')}</span>
                    )}
                  </td>
                  <td>{isRunning(s) && <Link to={`/play/${s.id}`}>{s.owner === user ? 'Rejoin' : 'Watch'}</Link>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
