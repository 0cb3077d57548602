// The VS Code user settings `npm start` gives the profile it creates for code-server: a quiet editor that
// shows the walkthrough, not toasts. Kept apart from start.mjs so a unit test can read them.

/** Settings every profile made by `npm start` carries. */
export const PROFILE_SETTINGS = {
  'workbench.startupEditor': 'none',
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  // code-server offers "Open in Browser" for every port the extension opens (PostgreSQL on 5433, the
  // probe on 8001): toasts that cover the Lock Monitor, for ports nobody needs to forward on 127.0.0.1.
  'remote.autoForwardPorts': false,
};

/**
 * The settings.json text for a profile: the existing file's settings (when it is plain JSON) with the
 * keys above added where missing; a person's own choices are kept. Returns undefined when nothing changes.
 */
export function profileSettingsText(existing) {
  let current = {};
  if (existing !== undefined) {
    try {
      current = JSON.parse(existing);
    } catch {
      return undefined; // comments or a typo: leave a hand-edited file alone
    }
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
  }
  const missing = Object.keys(PROFILE_SETTINGS).filter((k) => !(k in current));
  if (existing !== undefined && missing.length === 0) return undefined;
  return `${JSON.stringify({ ...PROFILE_SETTINGS, ...current }, null, 2)}\n`;
}
