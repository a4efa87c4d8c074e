// One events socket per sign-in, shared by the pages; it closes when the
// signed-in tree unmounts (sign-out).
import { createContext, ReactNode, useContext, useEffect, useState } from 'react';
import type { SessionEvent, TokenFn } from '../api';
import { EventsSocket, SocketStatus } from './socket';

interface EventsValue {
  socket: EventsSocket | null;
  status: SocketStatus;
  detail: string;
}

const EventsContext = createContext<EventsValue>({ socket: null, status: 'closed', detail: '' });

export function EventsProvider({ token, children }: { token: TokenFn; children: ReactNode }) {
  const [value, setValue] = useState<EventsValue>({ socket: null, status: 'connecting', detail: '' });
  useEffect(() => {
    const socket = new EventsSocket({ token });
    setValue({ socket, status: socket.status, detail: '' });
    const off = socket.onStatus((status, detail) => setValue({ socket, status, detail }));
    return () => {
      off();
      socket.close();
    };
  }, [token]);
  return <EventsContext.Provider value={value}>{children}</EventsContext.Provider>;
}

export function useEventsStatus(): { status: SocketStatus; detail: string } {
  const { status, detail } = useContext(EventsContext);
  return { status, detail };
}

/** Calls `listener` for every session event while mounted. */
export function useSessionEvents(listener: (e: SessionEvent) => void): void {
  const { socket } = useContext(EventsContext);
  useEffect(() => (socket ? socket.onEvent(listener) : undefined), [socket, listener]);
}
