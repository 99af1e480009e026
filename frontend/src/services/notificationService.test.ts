import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "../test/fakes";
import { CLOSE_UNAUTHENTICATED, NotificationSocket, backoffDelay, type SocketMessage } from "./notificationService";

function makeSocket(overrides: Partial<ConstructorParameters<typeof NotificationSocket>[0]> = {}) {
  const messages: [SocketMessage, boolean][] = [];
  const onResynced = vi.fn();
  const socket = new NotificationSocket({
    getToken: async () => "access-token",
    refresh: vi.fn(async () => true),
    onMessage: (message, replay) => messages.push([message, replay]),
    onResynced,
    url: (since) => `ws://test/ws/notifications/${since === null ? "" : `?since=${since}`}`,
    WebSocketImpl: FakeWebSocket as unknown as typeof WebSocket,
    baseDelayMs: 1000,
    maxDelayMs: 8000,
    random: () => 1,
    ...overrides,
  });
  return { socket, messages, onResynced };
}

describe("NotificationSocket", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("connects with the access token as the bearer subprotocol and relays messages", async () => {
    const { socket, messages } = makeSocket();
    socket.start();
    await vi.advanceTimersByTimeAsync(0);

    const ws = FakeWebSocket.latest();
    expect(ws.url).toBe("ws://test/ws/notifications/");
    expect(ws.protocols).toEqual(["bearer.access-token"]);
    ws.open();
    ws.receive({ type: "job.status", data: { job_id: "j1", status: "running", stage: "running", progress: 40 } });

    expect(messages).toEqual([
      [{ type: "job.status", data: { job_id: "j1", status: "running", stage: "running", progress: 40 } }, false],
    ]);
    socket.stop();
  });

  it("reconnects with backoff and catches up from the last notification id", async () => {
    const { socket, messages, onResynced } = makeSocket();
    socket.setLastId(10);
    socket.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeWebSocket.latest();
    first.open();
    first.receive({ type: "notification", data: { id: 12, title: "Done", is_read: false } });
    first.serverClose(1006);

    await vi.advanceTimersByTimeAsync(999);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    const second = FakeWebSocket.latest();
    expect(second.url).toBe("ws://test/ws/notifications/?since=12");
    second.open();
    second.receive({ type: "notification", data: { id: 13, title: "Missed", is_read: false } });
    second.receive({ type: "synced", data: { count: 1, last_id: 13, more: false } });

    expect(messages.map(([m, replay]) => [m.type, replay])).toEqual([
      ["notification", false],
      ["notification", true],
      ["synced", false],
    ]);
    expect(onResynced).toHaveBeenCalledTimes(1);

    // failing attempts wait longer each time, up to the maximum
    second.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.instances).toHaveLength(3);
    FakeWebSocket.latest().serverClose(1006);
    await vi.advanceTimersByTimeAsync(1999);
    expect(FakeWebSocket.instances).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.instances).toHaveLength(4);
    socket.stop();
  });

  it("refreshes the session after a 4401 close before reconnecting", async () => {
    const refresh = vi.fn(async () => true);
    const { socket } = makeSocket({ refresh });
    socket.start();
    await vi.advanceTimersByTimeAsync(0);
    FakeWebSocket.latest().open();
    FakeWebSocket.latest().serverClose(CLOSE_UNAUTHENTICATED);
    await vi.advanceTimersByTimeAsync(1000);

    expect(refresh).toHaveBeenCalledTimes(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    socket.stop();
  });

  it("does not connect when signed out, and stops reconnecting once stopped", async () => {
    const { socket } = makeSocket({ getToken: async () => null });
    socket.start();
    await vi.advanceTimersByTimeAsync(5000);
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it("computes a jittered exponential backoff with a ceiling", () => {
    expect(backoffDelay(0, 1000, 30000, () => 0)).toBe(500);
    expect(backoffDelay(3, 1000, 30000, () => 1)).toBe(8000);
    expect(backoffDelay(10, 1000, 30000, () => 1)).toBe(30000);
  });
});
