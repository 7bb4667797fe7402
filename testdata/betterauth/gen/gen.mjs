// Generates the better-auth fixture databases of testdata/betterauth with
// better-auth's own code: its Kysely adapter (SQLite through better-sqlite3,
// Postgres through pg), its migrations, its email/password sign-up, and its
// OAuth callback, account-linking and refresh endpoints, driven through
// auth.handler against a small OAuth provider served on 127.0.0.1.
//
// Usage (see README.md): npm ci && node gen.mjs [--pg postgres://...]
//
// Every value written is a test value: the manifest lists them all.

import { createHmac } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import Database from "better-sqlite3";
import pg from "pg";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { decryptOAuthToken } from "better-auth/oauth2";
import { genericOAuth } from "better-auth/plugins";

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(here, "..");
const BA_VERSION = JSON.parse(
	fs.readFileSync(path.join(here, "node_modules/better-auth/package.json"), "utf8"),
).version;
if (BA_VERSION !== "1.7.25") throw new Error(`better-auth ${BA_VERSION} installed, want 1.7.25: run npm ci`);

const args = process.argv.slice(2);
const pgAdminURL = args.includes("--pg") ? args[args.indexOf("--pg") + 1] : "postgres://postgres@127.0.0.1:5432/postgres";

const BASE = "http://localhost:3000";

// ---- test secrets (never used anywhere but these fixtures) ----
const SECRETS = {
	plain: "fixture-plain-secret-7d1e0b9c4a2f6e8d3b5a1c7f9e2d4b6a",
	single: "fixture-single-secret-3f9a1c6e8b2d4f70a5c1e9b3d7f2a6c4",
	legacy: "fixture-legacy-secret-5b8e2a4c6d0f1a3e7c9b5d2f8a4e6c1b",
	v1: "fixture-v1-secret-2c7a9e1b4d6f8a0c3e5b7d9f1a2c4e6b8d",
	v2: "fixture-v2-secret-8e4c2a6b0d9f7e5c3a1b8d6f4e2c0a9b7f",
};

// Each variant runs three phases; each phase is one better-auth
// configuration, as a deployment that changes its secrets between restarts.
const VARIANTS = {
	plain: [
		{ encrypt: false, secret: SECRETS.plain },
		{ encrypt: false, secret: SECRETS.plain },
		{ encrypt: false, secret: SECRETS.plain },
	],
	single: [
		{ encrypt: true, secret: SECRETS.single },
		{ encrypt: true, secret: SECRETS.single },
		{ encrypt: true, secret: SECRETS.single },
	],
	// A deployment that encrypted under BETTER_AUTH_SECRET, then moved to
	// BETTER_AUTH_SECRETS (keeping the old secret for its bare-hex values),
	// then rotated to version 2.
	versioned: [
		{ encrypt: true, secret: SECRETS.legacy },
		{ encrypt: true, secret: SECRETS.legacy, secrets: `1:${SECRETS.v1}` },
		{ encrypt: true, secret: SECRETS.legacy, secrets: `2:${SECRETS.v2},1:${SECRETS.v1}` },
	],
};

// ---- the OAuth provider: token and userinfo endpoints on 127.0.0.1 ----

const b64u = (b) => Buffer.from(b).toString("base64url");
// An ID token that looks like a provider's (HS256 under a fixed test key);
// better-auth only reads its claims here.
function idToken(sub, email, name, n) {
	const header = b64u(JSON.stringify({ alg: "HS256", typ: "JWT", kid: "fixture" }));
	const iat = 1767225600 + n * 60;
	const payload = b64u(JSON.stringify({
		iss: "https://acme.example", aud: "fixture-client", sub, email, email_verified: true, name, iat, exp: iat + 3600,
	}));
	const sig = createHmac("sha256", "fixture-idp-signing-key").update(`${header}.${payload}`).digest("base64url");
	return `${header}.${payload}.${sig}`;
}
const hex = (seed, bytes) => {
	let out = "";
	for (let i = 0; out.length < 2 * bytes; i++) out += createHmac("sha256", "fixture-hex").update(`${seed}/${i}`).digest("hex");
	return out.slice(0, 2 * bytes);
};

const people = {
	alice: { email: "alice@example.com", name: "Alice", password: "correct horse battery staple" },
	bob: { email: "bob@example.com", name: "Bob", password: "Tr0ub4dor&3" },
	carol: { email: "carol@example.com", name: "Carol", password: "pässwörd-ünïcode-🔑-Ω" },
	dave: { email: "dave@example.com", name: "Dave" },
	frank: { email: "frank@example.com", name: "Frank" },
	erin: { email: "erin@example.com", name: "Erin" },
	heidi: { email: "heidi@example.com", name: "Heidi" },
	grace: { email: "grace@example.com", name: "Grace" },
};

// The token responses, by authorization code and by refresh token. The
// refresh responses are used once each.
function acme(who, n, extra = {}) {
	const p = people[who];
	return {
		token_type: "Bearer",
		access_token: `ya29.a0AfB_fixture-${who}-access-${n}`,
		refresh_token: `1//0fixture-${who}-refresh-${n}`,
		id_token: idToken(`acme-sub-${who}`, p.email, p.name, n),
		expires_in: 3599,
		refresh_token_expires_in: 604800,
		scope: "openid email profile",
		...extra,
	};
}
const CODES = {
	"code-dave": acme("dave", 1),
	"code-frank": { token_type: "Bearer", access_token: "acme-frank-access-only-1" }, // no refresh, id token, expiry or scope
	"code-alice": acme("alice", 1, { scope: "openid email https://www.googleapis.com/auth/calendar.readonly" }),
	"code-bob": acme("bob", 1, { scope: "openid email" }),
	"code-grace": acme("grace", 1),
	// A GitHub-like provider whose tokens are lowercase hex: 64 bytes (the
	// length of better-auth ciphertext of a 24-byte plaintext) and 20 bytes.
	"code-erin": {
		token_type: "bearer", access_token: hex("erin-access-1", 64), refresh_token: hex("erin-refresh-1", 20),
		expires_in: 28800, refresh_token_expires_in: 15897600, scope: "repo user",
	},
	"code-erin-2": {
		token_type: "bearer", access_token: hex("erin-access-2", 64), refresh_token: hex("erin-refresh-2", 48),
		expires_in: 28800, refresh_token_expires_in: 15897600, scope: "repo user",
	},
	"code-heidi": {
		token_type: "bearer", access_token: hex("heidi-access-1", 32), refresh_token: hex("heidi-refresh-1", 20),
		expires_in: 28800, scope: "read:user",
	},
};
const REFRESH = {
	// bob: the provider does not rotate the refresh token, nor send an ID token.
	[CODES["code-bob"].refresh_token]: { token_type: "Bearer", access_token: "ya29.a0AfB_fixture-bob-access-2", expires_in: 3599 },
	// grace: the provider rotates the refresh token and sends a new ID token.
	[CODES["code-grace"].refresh_token]: acme("grace", 2, { scope: undefined }),
};
const USERINFO = {
	"code-frank": "frank", "code-erin": "erin", "code-erin-2": "erin", "code-heidi": "heidi",
};
const userinfoByToken = new Map();
for (const [code, who] of Object.entries(USERINFO)) userinfoByToken.set(CODES[code].access_token, who);

const providerLog = [];
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
				providerLog.push(grant);
				if (grant === "authorization_code") {
					const t = CODES[form.get("code")];
					return t ? send(200, t) : send(400, { error: "invalid_grant" });
				}
				if (grant === "refresh_token") {
					const rt = form.get("refresh_token");
					const t = REFRESH[rt];
					return t ? send(200, t) : send(400, { error: "invalid_grant" });
				}
				return send(400, { error: "unsupported_grant_type" });
			}
			if (req.method === "GET" && url.pathname === "/userinfo") {
				const tok = (req.headers.authorization || "").replace(/^Bearer /, "");
				const who = userinfoByToken.get(tok);
				if (!who) return send(401, { error: "invalid_token" });
				const p = people[who];
				return send(200, { id: `hub-${who}`, sub: `hub-${who}`, email: p.email, email_verified: true, name: p.name });
			}
			send(404, { error: "not_found" });
		});
	});
	return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ---- driving better-auth through its handler ----

class Client {
	constructor(auth) {
		this.auth = auth;
		this.cookies = new Map();
	}
	async req(method, pathAndQuery, body) {
		const headers = { origin: BASE };
		if (body !== undefined) headers["content-type"] = "application/json";
		if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
		const res = await this.auth.handler(new Request(BASE + "/api/auth" + pathAndQuery, {
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
		return res;
	}
	async json(method, p, body) {
		const res = await this.req(method, p, body);
		const text = await res.text();
		if (res.status >= 400) throw new Error(`${method} ${p}: ${res.status} ${text}`);
		return text ? JSON.parse(text) : null;
	}
	// An OAuth round trip: start (sign-in or link), then the provider's
	// redirect back to better-auth's callback with code.
	async oauth(startPath, provider, code) {
		const start = await this.json("POST", startPath, { provider, callbackURL: "/dashboard", errorCallbackURL: "/oauth-error" });
		const state = new URL(start.url).searchParams.get("state");
		const res = await this.req("GET", `/callback/${provider}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`);
		const loc = res.headers.get("location") || "";
		if (res.status !== 302 || !loc.startsWith("/dashboard")) {
			throw new Error(`callback ${provider} ${code}: ${res.status} -> ${loc} ${await res.text()}`);
		}
	}
}

function makeAuth(database, phase, providerURL) {
	const provider = (id, oidc) => ({
		providerId: id,
		clientId: "fixture-client",
		clientSecret: "fixture-client-secret",
		authorizationUrl: `${providerURL}/authorize`,
		tokenUrl: `${providerURL}/token`,
		userInfoUrl: `${providerURL}/userinfo`,
		scopes: oidc ? ["openid", "email", "profile"] : ["read:user"],
		pkce: true,
	});
	return betterAuth({
		baseURL: BASE,
		database,
		secret: phase.secret,
		...(phase.secrets ? { secrets: phase.secrets.split(",").map((e) => {
			const i = e.indexOf(":");
			return { version: Number(e.slice(0, i)), value: e.slice(i + 1) };
		}) } : {}),
		emailAndPassword: { enabled: true },
		account: {
			encryptOAuthTokens: phase.encrypt,
			accountLinking: { enabled: true, trustedProviders: ["acme", "hexhub"], requireLocalEmailVerified: false },
		},
		plugins: [genericOAuth({ config: [provider("acme", true), provider("hexhub", false)] })],
		telemetry: { enabled: false },
		logger: { level: "error" },
	});
}

// What each phase does: the same for every variant.
const PHASES = [
	async (c) => {
		for (const who of ["alice", "bob", "carol"]) {
			const p = people[who];
			await new Client(c.auth).json("POST", "/sign-up/email", { email: p.email, password: p.password, name: p.name });
		}
		await new Client(c.auth).oauth("/sign-in/social", "acme", "code-dave"); // a new user through OAuth
		await new Client(c.auth).oauth("/sign-in/social", "acme", "code-frank"); // an access token alone
		await new Client(c.auth).oauth("/sign-in/social", "hexhub", "code-heidi");
	},
	async (c) => {
		// alice links acme to her email/password account (linkOAuthAccount).
		const alice = new Client(c.auth);
		await alice.json("POST", "/sign-in/email", { email: people.alice.email, password: people.alice.password });
		await alice.oauth("/link-social", "acme", "code-alice");
		// bob signs in with acme: implicit linking to his existing user.
		await new Client(c.auth).oauth("/sign-in/social", "acme", "code-bob");
		await new Client(c.auth).oauth("/sign-in/social", "hexhub", "code-erin");
	},
	async (c) => {
		await new Client(c.auth).oauth("/sign-in/social", "acme", "code-grace");
		// erin signs in again: better-auth updates her account's tokens.
		await new Client(c.auth).oauth("/sign-in/social", "hexhub", "code-erin-2");
		// Refreshes through better-auth's /refresh-token endpoint.
		for (const who of ["bob", "grace"]) {
			const acc = await c.accountOf(who, "acme");
			await c.auth.api.refreshToken({ body: { accountId: acc.id, userId: acc.userId } });
		}
	},
];

// ---- databases ----

const TOKEN_COLS = ["accessToken", "refreshToken", "idToken"];

async function runVariant(kind, variant, providerURL) {
	const name = `${kind}-${variant}`;
	let database, readRows, readSchema, close, finish;
	if (kind === "sqlite") {
		const file = path.join(outDir, `${name}.sqlite`);
		fs.rmSync(file, { force: true });
		database = new Database(file);
		readRows = async (sql) => database.prepare(sql).all();
		readSchema = async () => ({
			objects: database.prepare(`SELECT type, name, tbl_name AS "table", sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY tbl_name, type DESC, name`).all(),
			accountColumns: database.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_xinfo('account') ORDER BY cid`).all(),
		});
		close = async () => {
			database.exec("VACUUM");
			database.close();
		};
		finish = () => ({ file: path.basename(file) });
	} else {
		const dbName = `ba_fixture_${variant}`;
		const admin = new pg.Client({ connectionString: pgAdminURL });
		await admin.connect();
		await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
		await admin.query(`CREATE DATABASE ${dbName}`);
		await admin.end();
		const url = new URL(pgAdminURL);
		url.pathname = "/" + dbName;
		database = new pg.Pool({ connectionString: url.toString() });
		readRows = async (sql) => (await database.query(sql)).rows;
		readSchema = async () => ({
			accountColumns: (await database.query(`SELECT column_name AS name, data_type AS type, is_nullable = 'NO' AS "notnull", column_default AS dflt_value
				FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'account' ORDER BY ordinal_position`)).rows,
			indexes: (await database.query(`SELECT tablename AS "table", indexname AS name, indexdef AS sql FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname`)).rows,
		});
		close = async () => {
			await database.end();
		};
		finish = () => {
			const file = path.join(outDir, `${name}.sql`);
			const dump = execFileSync("pg_dump", ["--no-owner", "--no-privileges", "--column-inserts", "--schema=public", "--dbname", url.toString()], { encoding: "utf8" });
			fs.writeFileSync(file, portableDump(dump));
			const a2 = new pg.Client({ connectionString: pgAdminURL });
			return a2.connect().then(() => a2.query(`DROP DATABASE ${dbName}`)).then(() => a2.end()).then(() => ({ file: path.basename(file) }));
		};
	}

	const phases = VARIANTS[variant];
	let auth;
	for (let i = 0; i < phases.length; i++) {
		auth = makeAuth(database, phases[i], providerURL);
		if (i === 0) {
			const { runMigrations } = await getMigrations(auth.options);
			await runMigrations();
		}
		const ctx = await auth.$context;
		const c = {
			auth,
			async accountOf(who, providerId) {
				const u = await ctx.internalAdapter.findUserByEmail(people[who].email);
				const accs = await ctx.internalAdapter.findAccounts(u.user.id);
				return accs.find((a) => a.providerId === providerId);
			},
		};
		await PHASES[i](c);
	}

	// Read back what better-auth stored, raw, and check that better-auth's
	// own reader (decryptOAuthToken, under the last phase's configuration)
	// opens each token to what the provider sent.
	const ctx = await auth.$context;
	const sent = new Map(); // plaintext -> true
	for (const t of [...Object.values(CODES), ...Object.values(REFRESH)]) {
		for (const k of ["access_token", "refresh_token", "id_token"]) if (t[k]) sent.set(t[k], true);
	}
	const textOf = kind === "sqlite"
		? (col) => `"${col}"`
		: (col) => `"${col}"::text`;
	const typeOf = kind === "sqlite" ? (col) => `typeof("${col}")` : (col) => `pg_typeof("${col}")::text`;
	const cols = ["id", "userId", "providerId", "accountId", ...TOKEN_COLS, "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt"];
	const rows = await readRows(`SELECT ${cols.map((c) => `${textOf(c)} AS "${c}", ${typeOf(c)} AS "${c}__type"`).join(", ")} FROM account ORDER BY "createdAt", id`);
	const users = await readRows(`SELECT id, email FROM "user"`);
	const emailOf = new Map(users.map((u) => [u.id, u.email]));
	const whoOf = (userId) => Object.keys(people).find((k) => people[k].email === emailOf.get(userId));
	const accounts = [];
	for (const r of rows) {
		const who = whoOf(r.userId);
		const a = { id: r.id, user: who, userId: r.userId, providerId: r.providerId, accountId: r.accountId };
		for (const col of TOKEN_COLS) {
			const stored = r[col];
			if (stored == null) {
				a[col] = null;
				continue;
			}
			const plain = col === "idToken" ? stored : await decryptOAuthToken(stored, ctx);
			if (!sent.has(plain)) throw new Error(`${name}: ${who}.${col} opens to a value the provider never sent`);
			a[col] = { plaintext: plain, stored, form: formOf(stored, plain) };
		}
		for (const col of ["accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "createdAt", "updatedAt"]) {
			a[col] = r[col] == null ? null : { stored: r[col], type: r[`${col}__type`] };
		}
		if (r.providerId === "credential") {
			a.password = { plaintext: people[who].password, stored: r.password };
		}
		accounts.push(a);
	}
	const schema = await readSchema();
	const types = {};
	for (const col of cols) types[col] = [...new Set(rows.map((r) => r[`${col}__type`]))].sort();
	await close();
	const out = await finish();
	const last = phases[phases.length - 1];
	return {
		name,
		database: kind,
		variant,
		...out,
		betterAuth: BA_VERSION,
		encryptOAuthTokens: last.encrypt,
		// The configuration of the last phase, as environment variables.
		env: { BETTER_AUTH_SECRET: last.secret, BETTER_AUTH_SECRETS: last.secrets ?? "" },
		phases: phases.map((p) => ({ encryptOAuthTokens: p.encrypt, BETTER_AUTH_SECRET: p.secret, BETTER_AUTH_SECRETS: p.secrets ?? "" })),
		storedTypes: types,
		schema,
		accounts,
	};
}

function formOf(stored, plain) {
	if (stored === plain) return "plaintext";
	const m = /^\$ba\$(\d+)\$[0-9a-f]+$/.exec(stored);
	if (m) return `v${m[1]}`;
	if (/^[0-9a-f]+$/.test(stored)) return "hex";
	throw new Error("stored value of an unknown form");
}

// portableDump makes pg_dump's output load into whatever schema is first on
// the search path, with psql or with a driver's simple query protocol: it
// drops the psql-only \restrict lines, the search_path reset, the creation
// of schema public, and the "public." qualification of the names it
// created. (The data are INSERTs, not COPY, for the same reason.)
function portableDump(dump) {
	const out = [];
	for (const line of dump.split("\n")) {
		if (/^\\(un)?restrict /.test(line)) continue;
		if (line === "SELECT pg_catalog.set_config('search_path', '', false);") continue;
		if (line === "CREATE SCHEMA public;" || line.startsWith("COMMENT ON SCHEMA public ")) continue;
		if (/^INSERT INTO public\./.test(line)) {
			out.push(line.replace(/^INSERT INTO public\./, "INSERT INTO "));
			continue;
		}
		out.push(line.replace(/\bpublic\.(?=["a-z_])/g, ""));
	}
	const text = out.join("\n");
	if (/^\\/m.test(text) || /\bpublic\./.test(text) || /^COPY /m.test(text)) throw new Error("pg_dump output has a form portableDump does not handle");
	return text;
}

const server = await startProvider();
const providerURL = `http://127.0.0.1:${server.address().port}`;
const fixtures = [];
try {
	for (const kind of ["sqlite", "postgres"]) {
		for (const variant of Object.keys(VARIANTS)) {
			providerLog.length = 0;
			fixtures.push(await runVariant(kind, variant, providerURL));
			console.log(`${kind}-${variant}: ${fixtures.at(-1).accounts.length} account rows; provider saw ${providerLog.join(", ")}`);
		}
	}
} finally {
	server.close();
}
const manifest = {
	comment: "Test-only values written by better-auth " + BA_VERSION + " through testdata/betterauth/gen (see README.md there). Every token, password and secret here is a fixture value.",
	betterAuth: BA_VERSION,
	people: Object.fromEntries(Object.entries(people).map(([k, p]) => [k, { email: p.email, password: p.password ?? null }])),
	fixtures,
};
fs.writeFileSync(path.join(outDir, "manifest.json"), JSON.stringify(manifest, null, "\t") + "\n");
console.log("wrote", path.join(outDir, "manifest.json"));
