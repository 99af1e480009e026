import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from "react";
import {
  NotificationSocket,
  notificationService as defaultService,
  type AppNotification,
  type ConnectionState,
  type JobStatusEvent,
  type SocketMessage,
  type SocketOptions,
} from "../services/notificationService";
import { session as defaultSession, type Session } from "../services/session";
import { useAuth } from "./AuthContext";

export interface Toast {
  id: number;
  title: string;
  message: string;
}

type Listener<E> = (event: E) => void;
type Subscribe<E> = (listener: Listener<E>) => () => void;
type JobListener = Listener<JobStatusEvent>;
/** What pages holding notifications follow: a new one pushed live, or some (or all) marked read anywhere. */
export type NotificationEvent = Extract<SocketMessage, { type: "notification" | "read" }>;

export interface NotificationValue {
  unreadCount: number | null;
  connection: ConnectionState;
  /** Bumped after each reconnect has caught up: pages holding live data re-fetch on a change. */
  resyncs: number;
  toasts: Toast[];
  dismissToast: (id: number) => void;
  subscribeJobStatus: Subscribe<JobStatusEvent>;
  /** Live notifications (not those replayed after a reconnect: `resyncs` covers them) and read marks. */
  subscribeNotifications: Subscribe<NotificationEvent>;
  refreshUnread: () => Promise<void>;
  /** Ids whose mark-read request is in flight: their buttons wait for it. */
  marking: ReadonlySet<number>;
  /**
   * Mark read through the API and count it off on the answer (unless the server's `read` message, which carries
   * the true count, came first); a second call for an id in flight shares the first one's request.
   */
  markRead: (id: number) => Promise<AppNotification>;
  markAllRead: () => Promise<void>;
}

const NotificationContext = createContext<NotificationValue | null>(null);
const TOAST_MS = 8000;

/** Listeners that socket messages are fanned out to; both functions are stable across renders. */
function useFanOut<E>(): { subscribe: Subscribe<E>; emit: (event: E) => void } {
  const listeners = useRef(new Set<Listener<E>>());
  const subscribe = useCallback((listener: Listener<E>) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);
  const emit = useCallback((event: E) => {
    for (const listener of listeners.current) listener(event);
  }, []);
  return { subscribe, emit };
}

export interface NotificationProviderProps {
  children: ReactNode;
  service?: typeof defaultService;
  store?: Session;
  socketOptions?: Partial<SocketOptions>;
}

export function NotificationProvider({
  children,
  service = defaultService,
  store = defaultSession,
  socketOptions,
}: NotificationProviderProps) {
  const { status } = useAuth();
  const [unreadCount, setUnreadCount] = useState<number | null>(null);
  const [connection, setConnection] = useState<ConnectionState>("closed");
  const [resyncs, setResyncs] = useState(0);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const { subscribe: subscribeJobStatus, emit: emitJobStatus } = useFanOut<JobStatusEvent>();
  const { subscribe: subscribeNotifications, emit: emitNotification } = useFanOut<NotificationEvent>();
  const optionsRef = useRef(socketOptions);
  const socketOpen = useRef(false);
  const [marking, setMarking] = useState<ReadonlySet<number>>(new Set());
  const inFlight = useRef(new Map<number, Promise<AppNotification>>());
  // ids in flight whose `read` message (carrying the server's count) came in: their answer must not count them off
  // again; only ids in flight go in (reads from other tabs do not), and each leaves with its answer
  const countedReads = useRef(new Set<number>());

  const refreshUnread = useCallback(async () => {
    try {
      setUnreadCount(await service.unreadCount());
    } catch {
      // keep the last known count; the socket or the next resync will correct it
    }
  }, [service]);

  const dismissToast = useCallback((id: number) => {
    setToasts((current) => current.filter((toast) => toast.id !== id));
  }, []);

  const pushToast = useCallback(
    (notification: AppNotification) => {
      setToasts((current) => [
        ...current.filter((toast) => toast.id !== notification.id).slice(-3),
        { id: notification.id, title: notification.title, message: notification.message },
      ]);
      setTimeout(() => dismissToast(notification.id), TOAST_MS);
    },
    [dismissToast],
  );

  useEffect(() => {
    if (status !== "signedIn") {
      setUnreadCount(null);
      return;
    }
    const socket = new NotificationSocket({
      getToken: () => store.accessToken(),
      refresh: () => store.refresh(),
      onState: (state) => {
        socketOpen.current = state === "open";
        setConnection(state);
      },
      onResynced: () => {
        void refreshUnread();
        setResyncs((n) => n + 1);
      },
      onMessage: (message, replay) => {
        switch (message.type) {
          case "notification":
            if (replay) break;
            if (!message.data.is_read) {
              setUnreadCount((n) => (n ?? 0) + 1);
              pushToast(message.data);
            }
            emitNotification(message);
            break;
          case "job.status":
            emitJobStatus(message.data);
            break;
          case "read":
            for (const id of message.data.all ? inFlight.current.keys() : (message.data.ids ?? [])) {
              if (inFlight.current.has(id)) countedReads.current.add(id);
            }
            setUnreadCount(message.data.unread_count);
            emitNotification(message);
            break;
          default:
            break;
        }
      },
      ...optionsRef.current,
    });
    let cancelled = false;
    void (async () => {
      await refreshUnread();
      try {
        const newest = await service.list({ page_size: 1 });
        socket.setLastId(newest.results[0]?.id ?? 0);
      } catch {
        socket.setLastId(0);
      }
      if (!cancelled) socket.start();
    })();
    return () => {
      cancelled = true;
      socket.stop();
      socketOpen.current = false;
      setConnection("closed");
    };
  }, [status, store, service, refreshUnread, pushToast, emitJobStatus, emitNotification]);

  const markRead = useCallback(
    (id: number) => {
      // the server pushes no `read` message for an id already read, so a second request would count it off twice
      const pending = inFlight.current.get(id);
      if (pending) return pending;
      const request = service
        .markRead(id)
        .then((updated) => {
          // the server pushes its `read` message on commit, so it may arrive before this answer
          if (!countedReads.current.has(id)) setUnreadCount((n) => (n === null ? n : Math.max(0, n - 1)));
          return updated;
        })
        .finally(() => {
          inFlight.current.delete(id);
          countedReads.current.delete(id);
          setMarking((current) => new Set([...current].filter((other) => other !== id)));
        });
      inFlight.current.set(id, request);
      setMarking((current) => new Set(current).add(id));
      return request;
    },
    [service],
  );

  const markAllRead = useCallback(async () => {
    await service.markAllRead();
    // an open socket brings the server's `read` message with the true count: forcing 0 here would wipe a
    // notification pushed in between; without the socket, ask
    if (!socketOpen.current) await refreshUnread();
  }, [service, refreshUnread]);

  const value = useMemo(
    () => ({
      unreadCount,
      connection,
      resyncs,
      toasts,
      dismissToast,
      subscribeJobStatus,
      subscribeNotifications,
      refreshUnread,
      marking,
      markRead,
      markAllRead,
    }),
    // the subscribe functions (useFanOut's) never change
    [unreadCount, connection, resyncs, toasts, dismissToast, refreshUnread, marking, markRead, markAllRead],
  );
  return <NotificationContext.Provider value={value}>{children}</NotificationContext.Provider>;
}

export function useNotifications(): NotificationValue {
  const value = useContext(NotificationContext);
  if (!value) throw new Error("useNotifications() needs a <NotificationProvider>");
  return value;
}

/** Keeps `listener` (its latest version, so callers need not memoise it) subscribed while mounted. */
function useSubscription<E>(subscribe: Subscribe<E>, listener: Listener<E>): void {
  const latest = useRef(listener);
  useEffect(() => {
    latest.current = listener;
  });
  useEffect(() => subscribe((event) => latest.current(event)), [subscribe]);
}

/** Calls `listener` for every live `job.status` message while the component is mounted. */
export function useJobStatusEvents(listener: JobListener): void {
  useSubscription(useNotifications().subscribeJobStatus, listener);
}

/** Calls `listener` for every live notification and `read` message while the component is mounted. */
export function useNotificationEvents(listener: Listener<NotificationEvent>): void {
  useSubscription(useNotifications().subscribeNotifications, listener);
}
