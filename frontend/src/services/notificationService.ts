/**
 * The notifications context: the REST endpoints and the live socket /ws/notifications/.
 *
 * The socket carries the access JWT as the subprotocol `bearer.<access>` (the server also takes `?token=`; the
 * subprotocol keeps the token out of URLs and access logs). It reconnects with exponential backoff and jitter;
 * a reconnect asks for `?since=<last notification id seen>`, so the server replays what was missed and then
 * says `synced`. A close with 4401 (token expired or refused) refreshes the session before the next attempt.
 */

import { apiGateway, type ApiGateway } from "./apiGateway";
import type { JobStage, JobStatus } from "./jobService";
import type { Page } from "./types";

export interface AppNotification {
  id: number;
  type: string;
  title: string;
  message: string;
  data: Record<string, unknown>;
  priority: string;
  created_at: string;
  read_at: string | null;
  is_read: boolean;
}

export interface JobStatusEvent {
  job_id: string;
  status: JobStatus;
  stage: JobStage | null;
  progress: number | null;
}

export type SocketMessage =
  | { type: "notification"; data: AppNotification }
  | { type: "job.status"; data: JobStatusEvent }
  | { type: "read"; data: { ids: number[] | null; all: boolean; unread_count: number } }
  | { type: "synced"; data: { count: number; last_id: number | null; more: boolean } }
  | { type: "ping" | "pong"; data: { at: number } }
  | { type: "error"; data: { code: string; message: string } };

export type ConnectionState = "connecting" | "open" | "closed";

export const CLOSE_UNAUTHENTICATED = 4401;

export function createNotificationService(gateway: ApiGateway = apiGateway) {
  return {
    unreadCount: async (signal?: AbortSignal) =>
      (await gateway.get<{ unread_count: number }>("/api/notifications/unread-count/", { signal })).unread_count,
    list: (query: { unread?: boolean; page?: number; page_size?: number } = {}, signal?: AbortSignal) =>
      gateway.get<Page<AppNotification>>("/api/notifications/", { signal, query }),
    markRead: (id: number) => gateway.post<AppNotification>(`/api/notifications/${id}/read/`),
    markAllRead: () => gateway.post<{ marked: number }>("/api/notifications/read-all/"),
  };
}

export const notificationService = createNotificationService();

export interface SocketOptions {
  /** A usable access token, or null when signed out (then no connection is made). */
  getToken: () => Promise<string | null>;
  /** Called after a 4401 close, before reconnecting. */
  refresh: () => Promise<boolean>;
  onMessage: (message: SocketMessage, replay: boolean) => void;
  onState?: (state: ConnectionState, attempt: number) => void;
  /** Called once a reconnect has caught up (after `synced`, or at once when there was nothing to replay from). */
  onResynced?: () => void;
  url?: (since: number | null) => string;
  WebSocketImpl?: typeof WebSocket;
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
}

export function socketUrl(since: number | null): string {
  const { protocol, host } = window.location;
  const scheme = protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${host}/ws/notifications/${since !== null ? `?since=${since}` : ""}`;
}

/** Exponential backoff with jitter: attempt 0 waits about `base`, doubling up to `max`. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const ceiling = Math.min(max, base * 2 ** attempt);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export class NotificationSocket {
  private socket: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = true;
  private lastId: number | null = null;
  private replaying = false;
  private everOpened = false;
  private readonly options: Required<Omit<SocketOptions, "onState" | "onResynced">> &
    Pick<SocketOptions, "onState" | "onResynced">;

  constructor(options: SocketOptions) {
    this.options = {
      url: socketUrl,
      WebSocketImpl: globalThis.WebSocket,
      baseDelayMs: 1000,
      maxDelayMs: 30_000,
      random: Math.random,
      ...options,
    };
  }

  /** The newest notification id seen, the point a reconnect catches up from. */
  setLastId(id: number | null): void {
    if (id !== null && (this.lastId === null || id > this.lastId)) this.lastId = id;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= 1) socket.close(1000, "signed out");
  }

  send(payload: unknown): void {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(payload));
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const token = await this.options.getToken();
    if (this.stopped) return;
    if (!token) {
      this.options.onState?.("closed", this.attempt);
      return;
    }
    this.options.onState?.("connecting", this.attempt);
    const reconnecting = this.everOpened;
    const since = reconnecting ? this.lastId : null;
    let socket: WebSocket;
    try {
      socket = new this.options.WebSocketImpl(this.options.url(since), [`bearer.${token}`]);
    } catch {
      this.schedule();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.everOpened = true;
      this.options.onState?.("open", 0);
      this.replaying = since !== null;
      if (reconnecting && since === null) this.options.onResynced?.();
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      let message: SocketMessage;
      try {
        message = JSON.parse(String(event.data)) as SocketMessage;
      } catch {
        return;
      }
      if (message.type === "notification") this.setLastId(message.data.id);
      if (message.type === "synced") {
        this.replaying = false;
        this.setLastId(message.data.last_id);
        this.options.onResynced?.();
      }
      this.options.onMessage(message, this.replaying);
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      this.options.onState?.("closed", this.attempt);
      if (event.code === CLOSE_UNAUTHENTICATED) {
        void this.options.refresh().then((ok) => {
          if (ok) this.schedule();
          else this.options.onState?.("closed", this.attempt);
        });
        return;
      }
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.options.baseDelayMs, this.options.maxDelayMs, this.options.random);
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}
