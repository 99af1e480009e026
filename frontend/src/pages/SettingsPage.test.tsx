import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../services/apiGateway";
import type { Credential } from "../services/userService";
import { fakeUsers, jsonResponse, renderPage } from "../test/fakes";
import SettingsPage from "./SettingsPage";

const SERVICES = {
  count: 1,
  next: null,
  previous: null,
  results: [{ id: 4, name: "TOPMed", requires_auth: true }],
};

describe("SettingsPage service credentials", () => {
  it("saves a write-only token, clears the field, and shows the API's field errors next to the fields", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => jsonResponse(SERVICES)));
    const saveCredential = vi
      .fn()
      .mockResolvedValueOnce({ id: 1, service_id: 4, has_token: true } as Credential)
      .mockRejectedValueOnce(
        new ApiError({ status: 400, code: "VALIDATION_ERROR", message: "Invalid input.", details: { token: ["Too long."] } }),
      );
    const users = fakeUsers({ saveCredential });
    renderPage(<SettingsPage users={users} />, { route: "/settings", path: "/settings", users });

    await screen.findByRole("option", { name: "TOPMed" });
    fireEvent.click(screen.getByRole("button", { name: "Save token" }));
    expect(screen.getByText("Choose the service this token is for.").id).toBe("cred-service-error");
    expect(screen.getByText("Paste the API token the service gave you.").id).toBe("cred-token-error");
    expect(saveCredential).not.toHaveBeenCalled();

    fireEvent.change(screen.getByLabelText("Service"), { target: { value: "4" } });
    fireEvent.change(screen.getByLabelText("API token"), { target: { value: " secret-token " } });
    fireEvent.click(screen.getByRole("button", { name: "Save token" }));

    expect(await screen.findByText("Token saved for TOPMed.")).toBeTruthy();
    expect(saveCredential).toHaveBeenCalledWith({ service_id: 4, token: "secret-token", label: "", expires_at: null });
    expect((screen.getByLabelText("API token") as HTMLInputElement).value).toBe("");
    expect((screen.getByLabelText("API token") as HTMLInputElement).type).toBe("password");

    fireEvent.change(screen.getByLabelText("API token"), { target: { value: "x".repeat(5000) } });
    fireEvent.click(screen.getByRole("button", { name: "Save token" }));
    await waitFor(() => expect(screen.getByText("Too long.").id).toBe("cred-token-error"));
  });
});
