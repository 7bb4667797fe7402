// Runs better-auth 1.7.25 itself on a better-auth database that
// `accountvault migrate` has adopted (columns renamed to snake_case, tokens
// sealed into BLOB/BYTEA, times as epoch seconds), with better-auth's
// account fields mapped to the new column names, and reports as JSON what
// better-auth can still do there and the error of what it cannot.
//
// Usage (see README.md; the database must be a copy: the run writes to it):
//   node transition.mjs --sqlite FILE [--epoch-times [--guard-tokens]] [--label NAME]
//   node transition.mjs --pg postgres://user@host:5432/db --schema S [--epoch-times [--guard-tokens]] [--label NAME]
//
// It reads the passwords and the better-auth secret of the plain fixture
// from ../manifest.json. Every value is a test value.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import Database from "better-sqlite3";
import pg from "pg";
import { betterAuth } from "better-auth";
import { genericOAuth } from "better-auth/plugins";

const here = path.dirname(fileURLToPath(import.meta.url));
const BA_VERSION = JSON.parse(
	fs.readFileSync(path.join(here, "node_modules/better-auth/package.json"), "utf8"),
).version;
if (BA_VERSION !== "1.7.25") throw new Error(`better-auth ${BA_VERSION} installed, want 1.7.25: run npm ci`);

const args = process.argv.slice(2);
const arg = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const sqliteFile = arg("--sqlite");
const pgURL = arg("--pg");
const pgSchema = arg("--schema");
if (!sqliteFile === !pgURL || (pgURL && !pgSchema)) {
	console.error("usage: node transition.mjs --sqlite FILE | --pg URL --schema SCHEMA [--epoch-times [--guard-tokens]] [--label NAME]");
	process.exit(2);
}
const label = arg("--label") ?? (sqliteFile ? path.basename(sqliteFile) : `postgres:${pgSchema}`);

const manifest = JSON.parse(fs.readFileSync(path.join(here, "..", "manifest.json"), "utf8"));
const people = manifest.people;
const plain = manifest.fixtures.find((f) => f.name === "sqlite-plain");

// The mapping of better-auth's account fields to the columns accountvault
// migrate leaves (its renames of better-auth's camelCase columns).
const ACCOUNT_FIELDS = {
	accountId: "account_id",
	providerId: "provider_id",
	userId: "user_id",
	accessToken: "access_token",
	refreshToken: "refresh_token",
	idToken: "id_token",
	accessTokenExpiresAt: "access_token_expires_at",
	refreshTokenExpiresAt: "refresh_token_expires_at",
	createdAt: "created_at",
	updatedAt: "updated_at",
};

// With --epoch-times, a plugin that overrides the four time fields of the
// account schema: better-auth then writes and reads them as epoch seconds,
// accountvault's format, instead of Date values.
const epochSeconds = {
	input: (v) => (v == null ? v : Math.floor(new Date(v).getTime() / 1000)),
	output: (v) => (v == null ? v : new Date(Number(v) * 1000)),
};
const accountvaultTimes = {
	id: "accountvault-epoch-times",
	schema: { account: { fields: {
		accessTokenExpiresAt: { type: "date", required: false, returned: false, fieldName: "access_token_expires_at", transform: epochSeconds },
		refreshTokenExpiresAt: { type: "date", required: false, returned: false, fieldName: "refresh_token_expires_at", transform: epochSeconds },
		createdAt: { type: "date", required: true, fieldName: "created_at", defaultValue: () => new Date(), transform: epochSeconds },
		updatedAt: { type: "date", required: true, fieldName: "updated_at", onUpdate: () => new Date(), transform: epochSeconds },
	} } },
};
const epochTimes = args.includes("--epoch-times");

// With --guard-tokens (and --epoch-times), the plugin also overrides the
// three token fields: better-auth reads them as null (it never sees
// accountvault's sealed values) and refuses to write one (its OAuth
// sign-in, sign-up, linking and refresh then fail before writing).
const tokenGuard = {
	input: (v) => {
		if (v != null) throw new Error("accountvault: OAuth tokens are written through accountvault only");
		return v;
	},
	output: () => null,
};
const guardTokens = args.includes("--guard-tokens");
if (guardTokens) {
	if (!epochTimes) throw new Error("--guard-tokens needs --epoch-times");
	Object.assign(accountvaultTimes.schema.account.fields, {
		accessToken: { type: "string", required: false, returned: false, fieldName: "access_token", transform: tokenGuard },
		refreshToken: { type: "string", required: false, returned: false, fieldName: "refresh_token", transform: tokenGuard },
		idToken: { type: "string", required: false, returned: false, fieldName: "id_token", transform: tokenGuard },
	});
}

// ---- a small OAuth provider (token and userinfo endpoints), for linking
// an account and for the refresh that /get-access-token attempts ----

const seen = []; // what the token endpoint received, described, never the values
const CODES = {
	"code-carol-hub": { token_type: "bearer", access_token: "hub-carol-access-1", refresh_token: "hub-carol-refresh-1", expires_in: 28800, scope: "read:user" },
	"code-heidi-hub": { token_type: "bearer", access_token: "hub-heidi-access-2", refresh_token: "hub-heidi-refresh-2", expires_in: 28800, scope: "read:user" },
	"code-ivan-hub": { token_type: "bearer", access_token: "hub-ivan-access-1", refresh_token: "hub-ivan-refresh-1", expires_in: 28800, scope: "read:user" },
};
const USERINFO = {
	"hub-carol-access-1": { id: "hub-carol", email: people.carol.email, name: "Carol" },
	"hub-heidi-access-2": { id: "hub-heidi", email: people.heidi.email, name: "Heidi" },
	"hub-ivan-access-1": { id: "hub-ivan", email: "ivan@example.com", name: "Ivan" },
};
function describe(v) {
	if (v == null) return "absent";
	if (/^[\x20-\x7e]*$/.test(v)) return `printable, ${v.length} chars, starts ${JSON.stringify(v.slice(0, 8))}`;
	return `binary-looking, ${v.length} chars`;
}
function startProvider() {
	const server = http.createServer((req, res) => {
		let body = "";
		req.on("data", (c) => (body += c));
		req.on("end", () => {
			const send = (status, obj) => {
				res.writeHead(status, { "content-type": "application/json" });
				res.end(JSON.stringify(obj));
			};
			const url = new URL(req.url, "http://127.0.0.1");
			if (req.method === "POST" && url.pathname === "/token") {
				const form = new URLSearchParams(body);
				const grant = form.get("grant_type");
				if (grant === "authorization_code") {
					seen.push({ grant, code: form.get("code") });
					const t = CODES[form.get("code")];
					return t ? send(200, t) : send(400, { error: "invalid_grant" });
				}
				if (grant === "refresh_token") {
					// Only the fixture's own refresh tokens would be valid;
					// record what better-auth sent in their place.
					seen.push({ grant, refresh_token: describe(form.get("refresh_token")) });
					return send(400, { error: "invalid_grant" });
				}
				return send(400, { error: "unsupported_grant_type" });
			}
			if (req.method === "GET" && url.pathname === "/userinfo") {
				const info = USERINFO[(req.headers.authorization || "").replace(/^Bearer /, "")];
				return info ? send(200, { ...info, sub: info.id, email_verified: true }) : send(401, { error: "invalid_token" });
			}
			send(404, { error: "not_found" });
		});
	});
	return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ---- driving better-auth through its handler, cookies carried ----

const BASE = "http://localhost:3000";
class Client {
	constructor(auth) {
		this.auth = auth;
		this.cookies = new Map();
	}
	async req(method, p, body) {
		const headers = { origin: BASE };
		if (body !== undefined) headers["content-type"] = "application/json";
		if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
		const res = await this.auth.handler(new Request(BASE + "/api/auth" + p, {
			method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: "manual",
		}));
		for (const sc of res.headers.getSetCookie()) {
			const [pair, ...attrs] = sc.split(";");
			const i = pair.indexOf("=");
			const name = pair.slice(0, i).trim();
			const value = pair.slice(i + 1).trim();
			if (value === "" || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
			else this.cookies.set(name, value);
		}
		const text = await res.text();
		let json = null;
		try {
			json = text ? JSON.parse(text) : null;
		} catch {
			json = text;
		}
		return { status: res.status, location: res.headers.get("location"), json };
	}
	async oauth(startPath, provider, code) {
		const start = await this.req("POST", startPath, { provider, callbackURL: "/dashboard", errorCallbackURL: "/oauth-error" });
		if (start.status !== 200) return start;
		const state = new URL(start.json.url).searchParams.get("state");
		return this.req("GET", `/callback/${provider}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`);
	}
}

// The error better-auth logged last (its logger at level error), so that a
// 500 can be reported with its cause.
let lastLogged = null;
const logger = {
	level: "error",
	log: (level, message, ...rest) => {
		const err = rest.find((r) => r instanceof Error) ?? rest.find((r) => r && r.message);
		lastLogged = `${message}${err ? `: ${err.message ?? err}` : ""}`;
	},
};

function outcome(r, ok) {
	const good = ok(r);
	const o = { ok: good, status: r.status };
	if (!good) {
		o.error = r.json && typeof r.json === "object" ? (r.json.message ?? r.json.code ?? JSON.stringify(r.json)) : r.json || r.location;
		if (lastLogged) o.logged = lastLogged;
	}
	lastLogged = null;
	return o;
}
async function attempt(fn) {
	lastLogged = null;
	try {
		return await fn();
	} catch (e) {
		return { ok: false, thrown: e.message };
	}
}

// ---- the database ----

let database, rawRows, closeDB;
if (sqliteFile) {
	database = new Database(sqliteFile);
	rawRows = async (sql) => database.prepare(sql).all();
	closeDB = async () => database.close();
} else {
	database = new pg.Pool({ connectionString: pgURL, options: `-c search_path=${pgSchema}` });
	rawRows = async (sql) => (await database.query(sql)).rows;
	closeDB = async () => database.end();
}
const typeOf = sqliteFile ? (c) => `typeof(${c})` : (c) => `pg_typeof(${c})::text`;
const credentialRows = async () => rawRows(`SELECT u.email, a.password LIKE '$argon2id$%' AS argon2id, ${typeOf("a.updated_at")} AS updated_at_type
	FROM account a JOIN "user" u ON u.id = a.user_id WHERE a.provider_id = 'credential' ORDER BY u.email`);

const server = await startProvider();
const providerURL = `http://127.0.0.1:${server.address().port}`;
const auth = betterAuth({
	baseURL: BASE,
	database,
	secret: plain.env.BETTER_AUTH_SECRET,
	emailAndPassword: { enabled: true },
	account: {
		fields: ACCOUNT_FIELDS,
		encryptOAuthTokens: false,
		accountLinking: { enabled: true, trustedProviders: ["acme", "hexhub"], requireLocalEmailVerified: false },
	},
	plugins: [...(epochTimes ? [accountvaultTimes] : []), genericOAuth({ config: ["acme", "hexhub"].map((id) => ({
		providerId: id,
		clientId: "fixture-client",
		clientSecret: "fixture-client-secret",
		authorizationUrl: `${providerURL}/authorize`,
		tokenUrl: `${providerURL}/token`,
		userInfoUrl: `${providerURL}/userinfo`,
		scopes: id === "acme" ? ["openid", "email", "profile"] : ["read:user"],
		pkce: true,
	})) })],
	telemetry: { enabled: false },
	logger,
});

const report = { label, betterAuth: BA_VERSION, accountFields: ACCOUNT_FIELDS, epochTimes, guardTokens, before: await credentialRows() };
const ok200 = (r) => r.status === 200;
try {
	// (a) email sign-in, right and wrong password; (b) getSession.
	report.signIn = {};
	const clients = {};
	for (const who of ["alice", "bob", "carol"]) {
		const p = people[who];
		const r = { argon2id: report.before.find((b) => b.email === p.email)?.argon2id ? true : false };
		const c = new Client(auth);
		r.right = await attempt(async () => outcome(await c.req("POST", "/sign-in/email", { email: p.email, password: p.password }), ok200));
		r.wrong = await attempt(async () => {
			const x = await new Client(auth).req("POST", "/sign-in/email", { email: p.email, password: p.password + "-wrong" });
			return { refused: x.status === 401, status: x.status, code: x.json?.code };
		});
		if (r.right.ok) {
			r.getSession = await attempt(async () => {
				const s = await c.req("GET", "/get-session");
				return { ...outcome(s, (x) => x.status === 200 && x.json?.user?.email === p.email), email: s.json?.user?.email };
			});
			clients[who] = c;
		}
		report.signIn[who] = r;
	}

	// (d) listing accounts: bob has credential and acme rows.
	let acmeID;
	if (clients.bob) {
		report.listAccounts = await attempt(async () => {
			const r = await clients.bob.req("GET", "/list-accounts");
			const o = outcome(r, ok200);
			if (r.status === 200) {
				o.accounts = r.json.map((a) => ({ providerId: a.providerId, createdAt: a.createdAt, scopes: a.scopes }));
				acmeID = r.json.find((a) => a.providerId === "acme")?.id;
			}
			return o;
		});
		// A read of a sealed token: /get-access-token on bob's acme account
		// (better-auth refreshes it first if it thinks it has expired).
		report.getAccessToken = await attempt(async () => {
			const before = seen.length;
			const r = await clients.bob.req("POST", "/get-access-token", { accountId: acmeID });
			const o = outcome(r, ok200);
			if (r.status === 200) {
				const t = r.json.accessToken;
				o.accessToken = typeof t === "string" ? describe(t) : `not a string: ${JSON.stringify(t).slice(0, 40)}…`;
				o.accessTokenExpiresAt = r.json.accessTokenExpiresAt;
			}
			o.providerReceived = seen.slice(before);
			return o;
		});
	}

	// (d) linking: carol links a hexhub account from her session.
	if (clients.carol) {
		report.linkSocial = await attempt(async () => outcome(await clients.carol.oauth("/link-social", "hexhub", "code-carol-hub"),
			(r) => r.status === 302 && (r.location || "").startsWith("/dashboard")));
	}

	// An OAuth sign-in of an existing user: heidi's hexhub account (better-auth
	// writes the new tokens to her row).
	report.signInOAuth = await attempt(async () => outcome(await new Client(auth).oauth("/sign-in/social", "hexhub", "code-heidi-hub"),
		(r) => r.status === 302 && (r.location || "").startsWith("/dashboard")));

	// (c) sign-up: a new user with email and password, and one through OAuth.
	report.signUpEmail = await attempt(async () => outcome(await new Client(auth).req("POST", "/sign-up/email",
		{ email: "judy@example.com", password: "judy-fixture-password-1", name: "Judy" }), ok200));
	report.signUpOAuth = await attempt(async () => outcome(await new Client(auth).oauth("/sign-in/social", "hexhub", "code-ivan-hub"),
		(r) => r.status === 302 && (r.location || "").startsWith("/dashboard")));
	const leftover = await rawRows(`SELECT u.email, (SELECT count(*) FROM account a WHERE a.user_id = u.id) AS accounts
		FROM "user" u WHERE u.email IN ('judy@example.com', 'ivan@example.com') ORDER BY u.email`);
	report.signUpLeftovers = leftover.map((l) => ({ email: l.email, accounts: Number(l.accounts) }));

	// (e) a password change: bob, from his session; then a sign-in with it.
	if (clients.bob) {
		const newPassword = "bob-changed-fixture-password-2";
		report.changePassword = await attempt(async () => outcome(await clients.bob.req("POST", "/change-password",
			{ currentPassword: people.bob.password, newPassword, revokeOtherSessions: false }), ok200));
		report.signInAfterChange = await attempt(async () => {
			const n = outcome(await new Client(auth).req("POST", "/sign-in/email", { email: people.bob.email, password: newPassword }), ok200);
			const o = outcome(await new Client(auth).req("POST", "/sign-in/email", { email: people.bob.email, password: people.bob.password }), ok200);
			return { newPassword: n, oldPassword: o };
		});
	}

	// What the account table holds afterwards: rows better-auth wrote.
	report.after = {
		credential: await credentialRows(),
		rowsByTimeType: await rawRows(`SELECT ${typeOf("created_at")} AS created_at, ${typeOf("updated_at")} AS updated_at,
			${typeOf("access_token")} AS access_token, count(*) AS n FROM account GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`),
	};
	for (const r of report.after.rowsByTimeType) r.n = Number(r.n);
} finally {
	server.close();
	await closeDB();
}
console.log(JSON.stringify(report, null, "\t"));
