import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Django (runserver / ASGI) listens here during local development.
const BACKEND_ORIGIN = "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  // Django serves dist/ at the site root through WhiteNoise:
  // index.html at "/", hashed bundles under "/assets/".
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
  },
  server: {
    port: 3000,
    strictPort: true,
    proxy: {
      "/api": { target: BACKEND_ORIGIN, changeOrigin: true },
      "/healthz": { target: BACKEND_ORIGIN, changeOrigin: true },
      "/readyz": { target: BACKEND_ORIGIN, changeOrigin: true },
      "/ws": { target: BACKEND_ORIGIN, changeOrigin: true, ws: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
