// The operator dashboard (admin role): this node and the fleet, sessions with
// their live quality figures, and pipelines, pushed over the events
// WebSocket's `dashboard` topic; actions go through the REST API with the
// same roles as any client, each after a confirmation.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ActionError, advice, drainNode, sessionAction, undrainNode, type SessionAction } from './actions';
import * as f from './format';
import { subscribeDashboard, type LiveStatus } from './live';
import type { DashboardPipeline, DashboardSession, FleetNode, Snapshot } from './types';
import './dashboard.css';

export interface DashboardProps {
  token: () => Promise<string>;
}

/** A snapshot older than this is marked stale (they come every second). */
const STALE_MS = 3_000;

interface Pending {
  title: string;
  detail: string;
  confirm: string;
  run: () => Promise<unknown>;
  done: string;
  /** Where focus returns when the confirmation closes. */
  from: HTMLElement | null;
}

interface Notice {
  tone: 'ok' | 'error';
  text: string;
}

const ENDED = new Set(['terminated', 'error', 'cleanup']);

export function Dashboard({ token }: DashboardProps) {
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [status, setStatus] = useState<LiveStatus>({ kind: 'connecting' });
  const [receivedAt, setReceivedAt] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice | null>(null);
  const tokenRef = useRef(token);
  tokenRef.current = token;

  useEffect(() => {
    const stop = subscribeDashboard({
      token: () => tokenRef.current(),
      onSnapshot: (s) => {
        setSnap(s);
        setReceivedAt(Date.now());
      },
      onStatus: setStatus,
    });
    const tick = setInterval(() => setNow(Date.now()), 1_000);
    return () => {
      clearInterval(tick);
      stop();
    };
  }, []);

  const ask = useCallback((p: Omit<Pending, 'from'>) => {
    setNotice(null);
    setPending({ ...p, from: document.activeElement as HTMLElement | null });
  }, []);

  const close = useCallback(() => {
    setPending((p) => {
      p?.from?.focus();
      return null;
    });
  }, []);

  const confirm = async () => {
    if (!pending) return;
    setBusy(true);
    try {
      await pending.run();
      setNotice({ tone: 'ok', text: pending.done });
    } catch (e) {
      const err = e instanceof ActionError ? e : new ActionError(0, 'network', String(e));
      setNotice({ tone: 'error', text: `${pending.title} failed: ${err.detail} ${advice(err)}` });
    } finally {
      setBusy(false);
      close();
    }
  };

  const onSession = (s: DashboardSession, action: SessionAction) => {
    const who = `session ${f.shortId(s.id)} of ${s.owner} (${s.game || s.pipeline})`;
    const what = {
      pause: { title: 'Pause session', detail: `Pause ${who}? Its stream stops until it is resumed.` },
      resume: { title: 'Resume session', detail: `Resume ${who}?` },
      end: { title: 'End session', detail: `End ${who}? The game stops and its players are disconnected.` },
    }[action];
    ask({
      ...what,
      confirm: what.title,
      run: () => sessionAction(token, s.id, action),
      done: `${what.title}: ${who} done.`,
    });
  };

  const onDrain = (node: string) =>
    ask({
      title: 'Drain node',
      detail: `Drain node ${node}? It takes no new sessions until it restarts or you undo it; running sessions play on.`,
      confirm: 'Drain node',
      run: () => drainNode(token, node),
      done: `Node ${node} is draining.`,
    });

  const onUndrain = (node: string) =>
    ask({
      title: 'Take sessions again',
      detail: `Let node ${node} take new sessions again?`,
      confirm: 'Take sessions',
      run: () => undrainNode(token, node),
      done: `Node ${node} takes sessions again.`,
    });

  const stale = snap !== null && now - receivedAt > STALE_MS;

  return (
    <section className="dashboard" aria-labelledby="dashboard-title">
      <header className="dashboard-head">
        <h1 id="dashboard-title">Dashboard</h1>
        <p className={`dashboard-status ${status.kind}${stale ? ' stale' : ''}`} role="status">
          {statusText(status, snap, stale)}
        </p>
      </header>
      {status.kind === 'refused' && (
        <p className="dashboard-alert" role="alert">
          {status.code === 'forbidden'
            ? 'The dashboard is for operators: this sign-in does not have the admin role.'
            : `Signed out of the live feed (${status.message}): sign in again.`}
        </p>
      )}
      {snap && Object.keys(snap.unavailable).length > 0 && (
        <ul className="dashboard-alert" role="alert">
          {Object.entries(snap.unavailable).map(([part, why]) => (
            <li key={part}>
              {part} cannot be shown now: {why}
            </li>
          ))}
        </ul>
      )}
      {notice && (
        <p className={`dashboard-notice ${notice.tone}`} role={notice.tone === 'error' ? 'alert' : 'status'}>
          {notice.text}
        </p>
      )}
      {pending && <Confirm pending={pending} busy={busy} onConfirm={confirm} onCancel={close} />}
      {!snap ? (
        status.kind !== 'refused' && <p>Waiting for the first snapshot…</p>
      ) : (
        <>
          <ThisNode snap={snap} onDrain={onDrain} onUndrain={onUndrain} />
          <Fleet nodes={snap.nodes} here={snap.node.id} onDrain={onDrain} onUndrain={onUndrain} />
          <Sessions sessions={snap.sessions} onAction={onSession} />
          <Pipelines pipelines={snap.pipelines} />
        </>
      )}
    </section>
  );
}

function statusText(status: LiveStatus, snap: Snapshot | null, stale: boolean): string {
  const at = snap ? ` Last update ${f.clock(snap.at)}.` : '';
  switch (status.kind) {
    case 'connecting':
      return `Connecting to the live feed…${at}`;
    case 'live':
      return stale ? `Live feed silent: the figures below may be out of date.${at}` : `Live.${at}`;
    case 'reconnecting':
      return `Reconnecting in ${Math.ceil(status.retryInMs / 1000)} s (${status.why}); the figures below may be out of date.${at}`;
    case 'refused':
      return 'Not live.';
    case 'closed':
      return 'Closed.';
  }
}

function Confirm({
  pending,
  busy,
  onConfirm,
  onCancel,
}: {
  pending: Pending;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div
      className="dashboard-confirm"
      role="alertdialog"
      aria-labelledby="dashboard-confirm-title"
      aria-describedby="dashboard-confirm-detail"
      onKeyDown={(e) => {
        if (e.key === 'Escape') onCancel();
      }}
    >
      <h2 id="dashboard-confirm-title">{pending.title}</h2>
      <p id="dashboard-confirm-detail">{pending.detail}</p>
      <div className="dashboard-buttons">
        <button type="button" className="danger" onClick={onConfirm} disabled={busy}>
          {busy ? 'Working…' : pending.confirm}
        </button>
        <button type="button" ref={cancel} onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/**
 * A table that scrolls sideways on its own on a narrow screen. Its caption stays outside the
 * scrolling region, so it reads from the start however far the table is scrolled.
 */
function Table({ id, caption, children }: { id: string; caption: string; children: React.ReactNode }) {
  return (
    <>
      <p className="table-caption" id={id}>
        {caption}
      </p>
      <div className="dashboard-table" role="region" aria-labelledby={id} tabIndex={0}>
        <table aria-labelledby={id}>{children}</table>
      </div>
    </>
  );
}

interface NodeActions {
  onDrain: (node: string) => void;
  onUndrain: (node: string) => void;
}

function ThisNode({ snap, onDrain, onUndrain }: { snap: Snapshot } & NodeActions) {
  const n = snap.node;
  const { used, total } = n.budget;
  return (
    <section aria-labelledby="dashboard-node">
      <h2 id="dashboard-node">This node</h2>
      <dl className="dashboard-facts">
        <dt>Node</dt>
        <dd>{n.id}</dd>
        <dt>Sessions running</dt>
        <dd>{n.sessions}</dd>
        <dt>CPU reserved</dt>
        <dd>{f.cpu(used, total)}</dd>
        <dt>Memory reserved</dt>
        <dd>{f.memory(used, total)}</dd>
        <dt>GPU encoder slots</dt>
        <dd>{f.gpus(used, total)}</dd>
        <dt>Cache</dt>
        <dd>{n.cache.backend}</dd>
        <dt>Containment</dt>
        <dd>
          {n.containment.mechanism ?? '–'}
          {n.containment.enforced?.length ? ` (${n.containment.enforced.join(', ')})` : ''}
        </dd>
        <dt>Taking sessions</dt>
        <dd>{n.draining ? 'no: draining' : 'yes'}</dd>
      </dl>
      {n.draining ? (
        <button type="button" onClick={() => onUndrain(n.id)}>
          Take sessions again
        </button>
      ) : (
        <button type="button" className="danger" onClick={() => onDrain(n.id)}>
          Drain this node
        </button>
      )}
    </section>
  );
}

function Fleet({ nodes, here, onDrain, onUndrain }: { nodes: FleetNode[]; here: string } & NodeActions) {
  return (
    <section aria-labelledby="dashboard-fleet-title">
      <h2 id="dashboard-fleet-title">Fleet</h2>
      {nodes.length === 0 ? (
        <p>No node has a live heartbeat.</p>
      ) : (
        <Table id="dashboard-fleet" caption={`${nodes.length} node${nodes.length === 1 ? '' : 's'} with a live heartbeat`}>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Sessions</th>
              <th scope="col">CPU</th>
              <th scope="col">Memory</th>
              <th scope="col">GPU slots</th>
              <th scope="col">Draining</th>
              <th scope="col">Heartbeat age</th>
              <th scope="col">Pipelines it runs</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => (
              <tr key={n.node}>
                <th scope="row">
                  {n.node}
                  {n.node === here ? ' (this node)' : ''}
                  <div className="dashboard-sub">{n.address}</div>
                </th>
                <td>{n.sessions}</td>
                <td>{f.cpu(n.budget.used, n.budget.total)}</td>
                <td>{f.memory(n.budget.used, n.budget.total)}</td>
                <td>{f.gpus(n.budget.used, n.budget.total)}</td>
                <td>{n.draining ? 'yes' : 'no'}</td>
                <td>{f.age(n.heartbeat_age_ms)}</td>
                <td>
                  {Object.entries(n.runnable)
                    .map(([p, enc]) => `${p} (${enc})`)
                    .join(', ') || 'none'}
                </td>
                <td>
                  {n.draining ? (
                    <button type="button" onClick={() => onUndrain(n.node)} aria-label={`Let node ${n.node} take sessions again`}>
                      Undo drain
                    </button>
                  ) : (
                    <button type="button" className="danger" onClick={() => onDrain(n.node)} aria-label={`Drain node ${n.node}`}>
                      Drain
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
    </section>
  );
}

function Sessions({
  sessions,
  onAction,
}: {
  sessions: DashboardSession[];
  onAction: (s: DashboardSession, a: SessionAction) => void;
}) {
  return (
    <section aria-labelledby="dashboard-sessions-title">
      <h2 id="dashboard-sessions-title">Sessions</h2>
      {sessions.length === 0 ? (
        <p>No sessions.</p>
      ) : (
        <Table id="dashboard-sessions" caption="Running sessions first, then the latest ended ones">
          <thead>
            <tr>
              <th scope="col">Session</th>
              <th scope="col">State</th>
              <th scope="col">Owner</th>
              <th scope="col">Game</th>
              <th scope="col">Pipeline</th>
              <th scope="col">Encoder</th>
              <th scope="col">Node</th>
              <th scope="col">Bitrate</th>
              <th scope="col">FPS</th>
              <th scope="col">Round trip</th>
              <th scope="col">Loss</th>
              <th scope="col">Ladder step</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {sessions.map((s) => {
              const q = s.quality ?? {};
              const who = `session ${f.shortId(s.id)} of ${s.owner}`;
              return (
                <tr key={s.id} data-session={s.id}>
                  <th scope="row" title={s.id}>
                    {f.shortId(s.id)}
                  </th>
                  <td>
                    <span className={`dashboard-state ${s.state}`}>{s.state}</span>
                    {s.reason && <div className="dashboard-sub">{s.reason}</div>}
                  </td>
                  <td>{s.owner}</td>
                  <td>{s.game || '(stream)'}</td>
                  <td>{s.pipeline}</td>
                  <td>{s.encoder ?? '–'}</td>
                  <td>{s.node}</td>
                  <td>{f.bitrate(q.sent_bps)}</td>
                  <td>{f.fps(q.fps)}</td>
                  <td>{f.ms(q.rtt_ms)}</td>
                  <td>{f.loss(q.loss)}</td>
                  <td>{f.step(q.ladder_step)}</td>
                  <td className="dashboard-actions">
                    {s.state === 'active' && (
                      <button type="button" onClick={() => onAction(s, 'pause')} aria-label={`Pause ${who}`}>
                        Pause
                      </button>
                    )}
                    {s.state === 'paused' && (
                      <button type="button" onClick={() => onAction(s, 'resume')} aria-label={`Resume ${who}`}>
                        Resume
                      </button>
                    )}
                    {!ENDED.has(s.state) && (
                      <button type="button" className="danger" onClick={() => onAction(s, 'end')} aria-label={`End ${who}`}>
                        End
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </Table>
      )}
    </section>
  );
}

function Pipelines({ pipelines }: { pipelines: DashboardPipeline[] }) {
  return (
    <section aria-labelledby="dashboard-pipelines-title">
      <h2 id="dashboard-pipelines-title">Pipelines</h2>
      <Table id="dashboard-pipelines" caption="Pipeline files and what this node chose for each">
        <thead>
          <tr>
            <th scope="col">Pipeline</th>
            <th scope="col">Runs here</th>
            <th scope="col">Encoder</th>
            <th scope="col">Why this encoder</th>
            <th scope="col">Last reload error</th>
          </tr>
        </thead>
        <tbody>
          {pipelines.map((p) => (
            <tr key={p.name} data-pipeline={p.name}>
              <th scope="row">
                {p.name}
                {p.path && <div className="dashboard-sub">{p.path}</div>}
              </th>
              <td>{p.runnable ? 'yes' : 'no'}</td>
              <td>{p.encoder ?? '–'}</td>
              <td className="dashboard-why">{p.encoder_choice ?? '–'}</td>
              <td className={p.error ? 'dashboard-error' : undefined}>{p.error ? <code>{p.error}</code> : 'none'}</td>
            </tr>
          ))}
        </tbody>
      </Table>
    </section>
  );
}
