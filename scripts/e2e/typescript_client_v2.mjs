// The official TypeScript MCP client v2 (npm @modelcontextprotocol/client, MCP 2026-07-28)
// against the reference server over Streamable HTTP, negotiating with `server/discover`
// (versionNegotiation mode 'auto') and a bearer token from an AuthProvider:
//  - refused without a token (HTTP 401 with the bearer challenge, as the SDK's fetch receives it);
//  - a stateless connection: 2026-07-28 negotiated, no Mcp-Session-Id;
//  - alice (developer, app-alpha): tools/list without the admin tools, list_firewall_rules with
//    app-alpha only, get_firewall_rule app-beta refused, resources/list and resources/read of
//    cache://firewalls/app-alpha with ttlMs > 0 and cacheScope "private" (a second read within
//    ttlMs is served from the SDK's cache), cache://firewalls/app-beta not found;
//  - ada (admin): the admin tools are listed;
//  - subscriptions/listen for app-alpha and app-beta: acknowledged for app-alpha only; when ada
//    refreshes after app-alpha's rules changed in the demo downstream (and again when she resets
//    them), notifications/resources/updated for app-alpha arrives on the stream, and the next
//    read reaches the server and returns the new rules.
//
// usage: node typescript_client_v2.mjs CLIENT_DIR MCP_URL DOWNSTREAM_URL ADA_TOKEN ALICE_TOKEN [--stateless]
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [clientDir, url, downstream, adaToken, token, flag] = process.argv.slice(2);
if (!clientDir || !url || !downstream || !adaToken || !token) {
  console.error("usage: typescript_client_v2.mjs CLIENT_DIR MCP_URL DOWNSTREAM_URL ADA_TOKEN ALICE_TOKEN [--stateless]");
  process.exit(2);
}
const stateless = flag === "--stateless";
const { Client, StreamableHTTPClientTransport, SdkHttpError } = await import(
  pathToFileURL(join(clientDir, "node_modules/@modelcontextprotocol/client/dist/index.mjs")).href
);

const PROTOCOL = "2026-07-28";
const WHAT = `typescript client (v2, ${PROTOCOL}${stateless ? ", stateless server" : ""})`;
const ALPHA = "cache://firewalls/app-alpha";
const BETA = "cache://firewalls/app-beta";
const DEFAULT_ALPHA_RULES = ["alpha-1", "alpha-2", "alpha-3"];
const CHANGED_RULE = {
  id: "alpha-e2e-ts2",
  direction: "ingress",
  protocol: "tcp",
  ports: "8443",
  cidr: "10.0.0.0/8",
  action: "allow",
  description: "added by the TypeScript v2 client suite",
};
const NOTIFICATION_TIMEOUT_MS = 10_000;

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// The HTTP responses the SDK's transport received (its `fetch`, wrapped).
function recordingFetch(seen) {
  return async (input, init) => {
    const response = await fetch(input, init);
    seen.push({ status: response.status, headers: response.headers });
    return response;
  };
}

async function connect(bearer, seen = []) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(bearer ? { authProvider: { token: async () => bearer } } : {}),
    fetch: recordingFetch(seen),
  });
  const client = new Client(
    { name: "mcp-patterns-e2e-typescript-v2", version: "0.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(transport);
  return { client, transport, seen };
}

function checkModern({ client, transport, seen }, who) {
  const version = client.getNegotiatedProtocolVersion();
  if (version !== PROTOCOL || client.getProtocolEra() !== "modern") {
    fail(`${who}: negotiated ${version} (${client.getProtocolEra()}), expected ${PROTOCOL}`);
  }
  const sessions = seen.map((r) => r.headers.get("mcp-session-id")).filter(Boolean);
  if (transport.sessionId || sessions.length) {
    fail(`${who}: a stateless connection was given Mcp-Session-Id ${JSON.stringify(sessions)}`);
  }
  if (client.getServerVersion()?.name !== "mcp-patterns-example") {
    fail(`${who}: unexpected server info ${JSON.stringify(client.getServerVersion())}`);
  }
}

async function withoutToken() {
  const seen = [];
  let error;
  try {
    const { client } = await connect(undefined, seen);
    await client.close();
  } catch (e) {
    error = e;
  }
  if (!error) fail("the client connected without a token");
  if (seen[0]?.status !== 401) {
    fail(`without a token the SDK received HTTP ${JSON.stringify(seen.map((r) => r.status))}, expected 401 (error: ${error})`);
  }
  const challenge = seen[0].headers.get("www-authenticate") ?? "";
  if (!challenge.startsWith("Bearer") || !challenge.includes("resource_metadata=")) {
    fail(`the 401 carried the challenge ${JSON.stringify(challenge)}`);
  }
  if (!(error instanceof SdkHttpError) || error.data?.status !== 401) {
    fail(`the SDK reported ${error} (status ${error?.data?.status}), expected an SdkHttpError with status 401`);
  }
}

async function asAdmin() {
  const connection = await connect(adaToken);
  checkModern(connection, "ada");
  const names = (await connection.client.listTools()).tools.map((t) => t.name).sort();
  const expected = ["cache_status", "get_firewall_rule", "list_firewall_rules", "refresh_cache", "reset_firewall"];
  if (!same(names, expected)) fail(`ada's tools/list gave ${JSON.stringify(names)}`);
  await connection.client.close();
}

function ruleIds(read) {
  return JSON.parse(read.contents[0].text).rules.map((r) => r.id);
}

function checkCacheHints(result, what) {
  if (!(result.ttlMs > 0)) fail(`${what}: ttlMs was ${result.ttlMs}`);
  if (result.cacheScope !== "private") fail(`${what}: cacheScope was ${JSON.stringify(result.cacheScope)}`);
}

async function asDeveloper(connection) {
  const { client } = connection;
  checkModern(connection, "alice");
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  if (!same(names, ["cache_status", "get_firewall_rule", "list_firewall_rules"])) {
    fail(`alice's tools/list gave ${JSON.stringify(names)}`);
  }

  const listed = await client.callTool({ name: "list_firewall_rules", arguments: {} });
  const apps = listed.structuredContent?.apps?.map((a) => a.app_name);
  if (!same(apps, ["app-alpha"])) fail(`list_firewall_rules gave alice ${JSON.stringify(apps)}`);
  const alpha = await client.callTool({ name: "get_firewall_rule", arguments: { app_name: "app-alpha" } });
  const ids = alpha.structuredContent?.rules?.map((r) => r.id);
  if (alpha.isError || !same(ids, DEFAULT_ALPHA_RULES)) fail(`get_firewall_rule app-alpha gave ${JSON.stringify(alpha)}`);
  const denied = await client.callTool({ name: "get_firewall_rule", arguments: { app_name: "app-beta" } });
  if (!denied.isError || !/no entitlement for application 'app-beta'/.test(denied.content?.[0]?.text ?? "")) {
    fail(`app-beta, which alice is not entitled to, was not refused: ${JSON.stringify(denied)}`);
  }

  const listing = await client.listResources();
  const uris = listing.resources.map((r) => r.uri);
  if (!uris.includes(ALPHA) || uris.includes(BETA)) fail(`alice's resources/list gave ${JSON.stringify(uris)}`);
  checkCacheHints(listing, "resources/list");
  const read = await client.readResource({ uri: ALPHA });
  if (read.contents[0]?.mimeType !== "application/json" || !same(ruleIds(read), DEFAULT_ALPHA_RULES)) {
    fail(`reading ${ALPHA} gave ${JSON.stringify(read)}`);
  }
  checkCacheHints(read, "resources/read");
  let unreadable;
  try {
    await client.readResource({ uri: BETA }, { cacheMode: "bypass" });
  } catch (e) {
    unreadable = e;
  }
  if (!unreadable || !/not found/i.test(unreadable.message)) {
    fail(`reading ${BETA} as alice gave ${unreadable ?? "a result"}`);
  }
}

async function adminTool(admin, name, args) {
  const result = await admin.callTool({ name, arguments: args });
  if (result.isError) fail(`${name} as ada failed: ${JSON.stringify(result.content)}`);
}

async function changeAlpha() {
  const response = await fetch(`${downstream}/api/v1/apps/app-alpha/firewall-rules`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([CHANGED_RULE]),
  });
  if (response.status !== 200) fail(`the downstream refused the change: HTTP ${response.status}`);
}

// After a failed subscription check: app-alpha's seeded rules back in the downstream and the cache.
async function restoreAlpha() {
  await fetch(`${downstream}/api/v1/apps/app-alpha/firewall-rules/reset`, { method: "POST" });
  const { client } = await connect(adaToken);
  await client.callTool({ name: "refresh_cache", arguments: {} });
  await client.close();
}

async function subscription({ client, seen }) {
  const updates = [];
  let wake = () => {};
  client.setNotificationHandler("notifications/resources/updated", (notification) => {
    updates.push(notification.params.uri);
    wake();
  });
  const nextUpdate = (after) =>
    new Promise((resolve, reject) => {
      if (updates.length) return resolve(updates.shift());
      const timer = setTimeout(
        () => reject(new Failure(`no notifications/resources/updated within ${NOTIFICATION_TIMEOUT_MS} ms after ${after}`)),
        NOTIFICATION_TIMEOUT_MS,
      );
      wake = () => {
        clearTimeout(timer);
        wake = () => {};
        resolve(updates.shift());
      };
    });

  // Warm the SDK's cache: within ttlMs a second read is served without a request.
  const warm = await client.readResource({ uri: ALPHA });
  let before = seen.length;
  if (!same(ruleIds(await client.readResource({ uri: ALPHA })), DEFAULT_ALPHA_RULES)) fail(`${ALPHA} read again`);
  // (Unless the server's next refresh was due within a second, ttlMs then being that short.)
  if (seen.length !== before && warm.ttlMs >= 1000) {
    fail(`the SDK did not serve a read within its ttlMs (${warm.ttlMs} ms) from its cache`);
  }

  const sub = await client.listen({ resourceSubscriptions: [ALPHA, BETA] });
  const { client: admin } = await connect(adaToken);
  try {
    const honored = sub.honoredFilter.resourceSubscriptions ?? [];
    if (!same(honored, [ALPHA])) {
      fail(`listen acknowledged ${JSON.stringify(honored)}, expected ["${ALPHA}"] (alice may not read app-beta)`);
    }

    await changeAlpha();
    await adminTool(admin, "refresh_cache", {});
    let uri = await nextUpdate("a refresh that changed app-alpha");
    if (uri !== ALPHA) fail(`the update named ${uri}, expected ${ALPHA}`);
    before = seen.length;
    let ids = ruleIds(await client.readResource({ uri: ALPHA }));
    if (seen.length === before) fail("after the update the SDK served the read from its cache");
    if (!same(ids, [CHANGED_RULE.id])) fail(`after the update alice read ${JSON.stringify(ids)}`);

    await adminTool(admin, "reset_firewall", { app_name: "app-alpha" });
    uri = await nextUpdate("reset_firewall app-alpha");
    if (uri !== ALPHA) fail(`the update after the reset named ${uri}`);
    ids = ruleIds(await client.readResource({ uri: ALPHA }));
    if (!same(ids, DEFAULT_ALPHA_RULES)) fail(`after the reset alice read ${JSON.stringify(ids)}`);
    if (updates.length) fail(`unexpected further updates ${JSON.stringify(updates)}`);
  } finally {
    await sub.close();
    await admin.close();
  }
  const ended = await sub.closed;
  if (ended !== "local") fail(`the listen stream ended ${ended}, expected local (closed by the client)`);
}

async function main() {
  await withoutToken();
  await asAdmin();
  const alice = await connect(token);
  await asDeveloper(alice);
  try {
    await subscription(alice);
  } catch (e) {
    await restoreAlpha().catch(() => {});
    throw e;
  }
  await alice.client.close();
  console.log(`${WHAT}: OK (401 without a token; stateless, no session; admin and developer tools; ` +
    `alice's data and resources only, ttlMs and cacheScope private, cached within ttlMs; ` +
    `subscriptions/listen acknowledged for app-alpha only, notified after an admin refresh)`);
}

try {
  await main();
  process.exit(0);
} catch (e) {
  console.error(`FAIL: ${WHAT}: ${e instanceof Failure ? e.message : e?.stack ?? e}`);
  process.exit(1);
}
