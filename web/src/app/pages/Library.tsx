// The games library, and the player's running sessions to rejoin.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, Game, SessionView } from '../api';
import { useAuth } from '../auth/AuthContext';
import { useSettings } from '../cache/settings';
import { useCached } from '../cache/useCached';
import { useSessionEvents } from '../events/EventsContext';
import { CachedMark, ProblemNote } from '../Problem';
import { Link, navigate } from '../router';
import { gameTitle, isRunning, launch, listGames, listSessions } from '../sessions';

export function LibraryPage() {
  const auth = useAuth();
  const user = auth.me?.user_id ?? '';
  const library = useCached('library', user, () => listGames(auth.token));
  const running = useRunning();
  const canLaunch = auth.me?.role === 'player' || auth.me?.role === 'admin';

  return (
    <>
      {running.sessions.length > 0 && (
        <section className="panel" aria-labelledby="running-title">
          <h1 id="running-title">Running now</h1>
          <ul className="running">
            {running.sessions.map((s) => (
              <li key={s.id}>
                <span>
                  <strong>{gameTitle(library.data, s.game)}</strong>{' '}
                  <span className={`state state-${s.state}`}>{s.state}</span>
                  {s.owner !== user && <span className="note"> shared by {s.owner}</span>}
                </span>
                <Link to={`/play/${s.id}`} className="button primary">
                  {s.owner === user ? 'Rejoin' : 'Watch'}
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section className="panel" aria-labelledby="library-title">
        <div className="title-row">
          <h1 id="library-title">Library</h1>
          <CachedMark at={library.cachedAt} offline={auth.offline || library.error?.kind === 'network'} />
        </div>
        {!canLaunch && (
          <p className="note">
            As a viewer you can watch sessions players share with you; launching games needs the player role.
          </p>
        )}
        {library.error && <ProblemNote error={library.error} onRetry={library.reload} />}
        {library.loading && !library.data && <p role="status">Loading the library…</p>}
        {library.data && library.data.length === 0 && <p>No games are configured on this service yet: an operator adds them to its games catalog (docs/SESSIONS.md).</p>}
        <ul className="games">
          {library.data?.map((g) => <GameCard key={g.id} game={g} canLaunch={canLaunch} offline={auth.offline} />)}
        </ul>
      </section>
    </>
  );
}

/** The caller's running sessions (and those shared with them), kept current by the events socket. */
function useRunning(): { sessions: SessionView[] } {
  const auth = useAuth();
  const [sessions, setSessions] = useState<SessionView[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout>>();
  const load = useCallback(() => {
    listSessions(auth.token).then(
      (all) => setSessions(all.filter((s) => isRunning(s) && s.game !== '')),
      () => {},
    );
  }, [auth.token]);
  useEffect(() => {
    load();
    return () => clearTimeout(timer.current);
  }, [load]);
  useSessionEvents(
    useCallback(() => {
      clearTimeout(timer.current);
      timer.current = setTimeout(load, 300);
    }, [load]),
  );
  return { sessions };
}

function GameCard({ game, canLaunch, offline }: { game: Game; canLaunch: boolean; offline: boolean }) {
  const auth = useAuth();
  const { settings } = useSettings();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const s = await launch(auth.token, game.id, settings);
      navigate(`/play/${s.id}`);
    } catch (e) {
      setError(e as Error);
      setBusy(false);
    }
  };
  const reserves = describeReserves(game);
  return (
    <li className="game">
      {game.art ? (
        <img className="art" src={game.art} alt="" loading="lazy" />
      ) : (
        <div className="art placeholder" aria-hidden="true">
          {game.title.slice(0, 1)}
        </div>
      )}
      <div className="game-body">
        <h2>{game.title}</h2>
        <p className="meta">
          {reserves && <span>Reserves {reserves}</span>}
          <span>Pipeline {game.pipeline}</span>
        </p>
        {!game.available && <p className="note">Not available on this service right now.</p>}
        {error && <ProblemNote error={error instanceof ApiError ? error : new ApiError(0, { detail: error.message })} />}
        {canLaunch && (
          <button
            type="button"
            className="primary"
            onClick={start}
            disabled={busy || !game.available || offline}
            aria-label={`Play ${game.title}`}
          >
            {busy ? 'Launching…' : 'Play'}
          </button>
        )}
      </div>
    </li>
  );
}

function describeReserves(g: Game): string {
  const r = g.reserves;
  if (!r) return '';
  const parts: string[] = [];
  if (typeof r.cpu_cores === 'number') parts.push(`${r.cpu_cores} CPU core${r.cpu_cores === 1 ? '' : 's'}`);
  if (typeof r.memory_mb === 'number') {
    parts.push(`${r.memory_mb >= 1024 ? `${(r.memory_mb / 1024).toFixed(1)} GB` : `${r.memory_mb} MB`} memory`);
  }
  return parts.join(', ');
}
