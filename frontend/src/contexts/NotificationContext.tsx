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
  type SocketOptions,
} from "../services/notificationService";
import { session as defaultSession, type Session } from "../services/session";
import { useAuth } from "./AuthContext";

export interface Toast {
  id: number;
  title: string;
  message: string;
}

type JobListener = (event: JobStatusEvent) => void;

export interface NotificationValue {
  unreadCount: number | null;
  connection: ConnectionState;
  /** Bumped after each reconnect has caught up: pages holding live data re-fetch on a change. */
  resyncs: number;
  toasts: Toast[];
  dismissToast: (id: number) => void;
  subscribeJobStatus: (listener: JobListener) => () => void;
  refreshUnread: () => Promise<void>;
  setUnreadCount: (count: number) => void;
}

const NotificationContext = createContext<NotificationValue | null>(null);
const TOAST_MS = 8000;

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
  const listeners = useRef(new Set<JobListener>());
  const optionsRef = useRef(socketOptions);

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
      onState: (state) => setConnection(state),
      onResynced: () => {
        void refreshUnread();
        setResyncs((n) => n + 1);
      },
      onMessage: (message, replay) => {
        switch (message.type) {
          case "notification":
            if (!replay && !message.data.is_read) {
              setUnreadCount((n) => (n ?? 0) + 1);
              pushToast(message.data);
            }
            break;
          case "job.status":
            for (const listener of listeners.current) listener(message.data);
            break;
          case "read":
            setUnreadCount(message.data.unread_count);
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
      setConnection("closed");
    };
  }, [status, store, service, refreshUnread, pushToast]);

  const subscribeJobStatus = useCallback((listener: JobListener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);

  const value = useMemo(
    () => ({
      unreadCount,
      connection,
      resyncs,
      toasts,
      dismissToast,
      subscribeJobStatus,
      refreshUnread,
      setUnreadCount,
    }),
    [unreadCount, connection, resyncs, toasts, dismissToast, subscribeJobStatus, refreshUnread],
  );
  return <NotificationContext.Provider value={value}>{children}</NotificationContext.Provider>;
}

export function useNotifications(): NotificationValue {
  const value = useContext(NotificationContext);
  if (!value) throw new Error("useNotifications() needs a <NotificationProvider>");
  return value;
}

/** Calls `listener` for every live `job.status` message while the component is mounted. */
export function useJobStatusEvents(listener: JobListener): void {
  const { subscribeJobStatus } = useNotifications();
  const latest = useRef(listener);
  useEffect(() => {
    latest.current = listener;
  });
  useEffect(() => subscribeJobStatus((event) => latest.current(event)), [subscribeJobStatus]);
}
