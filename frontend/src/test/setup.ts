import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import { FakeWebSocket } from "./fakes";

// Vitest globals are off, so Testing Library cannot register its own cleanup.
afterEach(() => {
  cleanup();
  localStorage.clear();
  FakeWebSocket.reset();
});
