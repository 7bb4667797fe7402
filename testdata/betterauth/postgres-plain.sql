--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: public; Type: SCHEMA; Schema: -; Owner: -
--



--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: -
--



SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: account; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE account (
    id text NOT NULL,
    "accountId" text NOT NULL,
    "providerId" text NOT NULL,
    "userId" text NOT NULL,
    "accessToken" text,
    "refreshToken" text,
    "idToken" text,
    "accessTokenExpiresAt" timestamp with time zone,
    "refreshTokenExpiresAt" timestamp with time zone,
    scope text,
    password text,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone NOT NULL
);


--
-- Name: session; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE session (
    id text NOT NULL,
    "expiresAt" timestamp with time zone NOT NULL,
    token text NOT NULL,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone NOT NULL,
    "ipAddress" text,
    "userAgent" text,
    "userId" text NOT NULL
);


--
-- Name: user; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE "user" (
    id text NOT NULL,
    name text NOT NULL,
    email text NOT NULL,
    "emailVerified" boolean NOT NULL,
    image text,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);


--
-- Name: verification; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE verification (
    id text NOT NULL,
    identifier text NOT NULL,
    value text NOT NULL,
    "expiresAt" timestamp with time zone NOT NULL,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);


--
-- Data for Name: account; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('zss7NE2n1Gyg2onmbK3LeTkfdtttBRzW', '9tBQjvgjeKZB2ivMOn6rgHWsq45bb681', 'credential', '9tBQjvgjeKZB2ivMOn6rgHWsq45bb681', NULL, NULL, NULL, NULL, NULL, NULL, 'd018176e011335b4e615a112d9031852:73419e3f42c67973263ed3f19bd153f14df5fea5a00efa5d45358e1918c1e7819f852073cb71b39114cc48052865b5defe6aac3d577d1c666f914f1b1b4cf3ef', '2026-11-29 07:21:29.484+00', '2026-11-29 07:21:29.484+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('Bx9LsmS8RNYwurP8FgA6Nk3OsG4b2VVL', 'l8GpMAHpYLMyhzBVA5zNwzmGhuglGKrN', 'credential', 'l8GpMAHpYLMyhzBVA5zNwzmGhuglGKrN', NULL, NULL, NULL, NULL, NULL, NULL, 'd744c8f64b56560d08c77ca32f14908f:e8f68e5c25079e7c1f104238b3cf2e40d33db0416b410c7a2761c24869a229de8f0e33b8e3d4609bd4e061adddde5c094e1bf6965b63ecb7ff378d226671421e', '2026-11-29 07:21:29.76+00', '2026-11-29 07:21:29.76+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('bQCVynuLwRj4nisbFbahWUsQ30o3nTFs', 'lo0aKSICHdVjao6WfdK5C58W4SJzzmwh', 'credential', 'lo0aKSICHdVjao6WfdK5C58W4SJzzmwh', NULL, NULL, NULL, NULL, NULL, NULL, 'b3af3b03e613b21db923737783da4e30:4ab6752a38db10106ece89af0b1a8500ba414a9451f795a612d372e611a10c8422b13341da9bf52f8536374a2acea005c3d04292868db0d4b2d3d2fab496abae', '2026-11-29 07:21:29.97+00', '2026-11-29 07:21:29.97+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('oeRPT3WatcASzQ3NzFqUukSkGpxiox9X', 'acme-sub-dave', 'acme', '5HpQEeCOlkpDMy7S849UR5tMTI3MP1RO', 'ya29.a0AfB_fixture-dave-access-1', '1//0fixture-dave-refresh-1', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItZGF2ZSIsImVtYWlsIjoiZGF2ZUBleGFtcGxlLmNvbSIsImVtYWlsX3ZlcmlmaWVkIjp0cnVlLCJuYW1lIjoiRGF2ZSIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.w2gqDJWRXqC6gJsPEsrw6EtNYT9zOhLL_9yGHjRHPH8', '2026-11-29 08:21:29.043+00', '2026-12-06 07:21:30.043+00', 'openid,email,profile', NULL, '2026-11-29 07:21:30.05+00', '2026-11-29 07:21:30.05+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('KR9oTfeIpfF14XA2p7X2bz20HB4pCf8T', 'hub-frank', 'acme', 'SgoJH7p4tAXyV1NSoiYep0OzIioXlj62', 'acme-frank-access-only-1', NULL, NULL, NULL, NULL, '', NULL, '2026-11-29 07:21:30.14+00', '2026-11-29 07:21:30.14+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('aDf3krdpeIMf6bwF4BKKT8NjNLU4H8mg', 'hub-heidi', 'hexhub', 'LJns0WE5cWIDYMTlDRHi47jisNaYpPCk', 'e667dc5fa62a097403af411508958738c8e3438a765599544b4ce2e986634974', 'd7e15d14591a2822d9313349ed115d7ac60d7edf', NULL, '2026-11-29 15:21:30.171+00', NULL, 'read:user', NULL, '2026-11-29 07:21:30.178+00', '2026-11-29 07:21:30.178+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('XHJZ4vYVseUjCdgQzawFm5oyjBOgStWC', 'acme-sub-alice', 'acme', '9tBQjvgjeKZB2ivMOn6rgHWsq45bb681', 'ya29.a0AfB_fixture-alice-access-1', '1//0fixture-alice-refresh-1', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItYWxpY2UiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwiZW1haWxfdmVyaWZpZWQiOnRydWUsIm5hbWUiOiJBbGljZSIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.2D967U0xHG3K3EU6vgMrpuA5RRp2kFuXfyDvVoqTmgU', '2026-11-29 08:21:29.746+00', '2026-12-06 07:21:30.746+00', 'openid,email,https://www.googleapis.com/auth/calendar.readonly', NULL, '2026-11-29 07:21:30.755+00', '2026-11-29 07:21:30.755+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('T9NGfBPqi84XRP38TPXIAlOoOkCvMgHH', 'hub-erin', 'hexhub', 'XYaJvaz0iESlzC9nlDvsQjzhrVhDv33b', '4fb5cb9183b802726b02a62da995de91e849b1c5cbbbf57d602356d6c06fcbb59275a9078931c25de69ab2b3299bb8d050dd0355e44f387f6f83ef0dd251f657', '23d4d4c1ff2dd69a024954629db4d3b7722f0deb60affe990787b8cccd77e40bf11bb7762775fbd5e71d08a23aa9bed9', NULL, '2026-11-29 15:21:31.146+00', '2027-06-01 07:21:31.146+00', 'repo,user', NULL, '2026-11-29 07:21:30.86+00', '2026-11-29 07:21:31.152+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('NQAK0cAvoY2GTk7hG0AZHuVANQ07N2ty', 'acme-sub-bob', 'acme', 'l8GpMAHpYLMyhzBVA5zNwzmGhuglGKrN', 'ya29.a0AfB_fixture-bob-access-2', '1//0fixture-bob-refresh-1', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItYm9iIiwiZW1haWwiOiJib2JAZXhhbXBsZS5jb20iLCJlbWFpbF92ZXJpZmllZCI6dHJ1ZSwibmFtZSI6IkJvYiIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.pWZj9OHRRoXtH6qj0eu_znZS_08QHwKrxARlaB4pe4I', '2026-11-29 08:21:30.171+00', '2026-12-06 07:21:30.789+00', 'openid,email', NULL, '2026-11-29 07:21:30.794+00', '2026-11-29 07:21:31.172+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('UNsIHL5mUfp2fyMfQLCFC8A6ybo2Ry3e', 'acme-sub-grace', 'acme', 'NvYFbQ5oUfYZUgrMyNaaSxfLOPrNvPkq', 'ya29.a0AfB_fixture-grace-access-2', '1//0fixture-grace-refresh-2', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItZ3JhY2UiLCJlbWFpbCI6ImdyYWNlQGV4YW1wbGUuY29tIiwiZW1haWxfdmVyaWZpZWQiOnRydWUsIm5hbWUiOiJHcmFjZSIsImlhdCI6MTc2NzIyNTcyMCwiZXhwIjoxNzY3MjI5MzIwfQ.qfVE4HgOl1TwRCBObQrfLRSSN3cU6HbFGreNX7tWtCs', '2026-11-29 08:21:30.183+00', '2026-12-06 07:21:31.183+00', 'openid,email,profile', NULL, '2026-11-29 07:21:31.068+00', '2026-11-29 07:21:31.183+00');


--
-- Data for Name: session; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('ACkIjSrUJUdShVWa1WEDBJ2AE8ASJ36C', '2026-12-06 07:21:29.486+00', 'OVR4DHim1tALV5O5l3r9FJewOgJVyBbn', '2026-11-29 07:21:29.486+00', '2026-11-29 07:21:29.486+00', '', '', '9tBQjvgjeKZB2ivMOn6rgHWsq45bb681');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('CUepCJ2vLwSVk35jnbcBkSYCERb3ghfp', '2026-12-06 07:21:29.762+00', 'qXcoKzHxzXOPIBarr7SEndS9HdNh6Hne', '2026-11-29 07:21:29.763+00', '2026-11-29 07:21:29.763+00', '', '', 'l8GpMAHpYLMyhzBVA5zNwzmGhuglGKrN');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('ppNcPbrBvsoNToqpWhywZtf0HSdytE1u', '2026-12-06 07:21:29.971+00', 'XeraUp1tbO5lsDhG3byNXlcikCqK2GLW', '2026-11-29 07:21:29.971+00', '2026-11-29 07:21:29.971+00', '', '', 'lo0aKSICHdVjao6WfdK5C58W4SJzzmwh');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('k44o1ruANh5qOX6ieh4q5j8B4KmnALcp', '2026-12-06 07:21:30.058+00', 'c7mOdfASYXlPLKkM3IMsIFwpilQZMMcq', '2026-11-29 07:21:30.058+00', '2026-11-29 07:21:30.058+00', '', '', '5HpQEeCOlkpDMy7S849UR5tMTI3MP1RO');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('HvcJ2f0ysQGsnpeLH983odMDVaPLz8Lf', '2026-12-06 07:21:30.144+00', 'mLXU64u3xQLhFiX9idXxBDC8vumY1NNY', '2026-11-29 07:21:30.144+00', '2026-11-29 07:21:30.144+00', '', '', 'SgoJH7p4tAXyV1NSoiYep0OzIioXlj62');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('eNzDCjWZdjukNHj4FRATPNfAgONnKrOb', '2026-12-06 07:21:30.181+00', '5eMU1PMYaYnDWbcxmFnGYIuUr8BNdRTg', '2026-11-29 07:21:30.181+00', '2026-11-29 07:21:30.181+00', '', '', 'LJns0WE5cWIDYMTlDRHi47jisNaYpPCk');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('JjUK9gvqfze2llOMK1pDWisfYz5vpTN9', '2026-12-06 07:21:30.696+00', '9hokc6ee6DUIh4IGtjD5wwFjCmxwh0CH', '2026-11-29 07:21:30.696+00', '2026-11-29 07:21:30.696+00', '', '', '9tBQjvgjeKZB2ivMOn6rgHWsq45bb681');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('LLlKOipSG9xUXAPc0ng4zymgbdHgt9Pd', '2026-12-06 07:21:30.805+00', 'd5RXByKj3M2vehpe3JWUZGd7oym1UYre', '2026-11-29 07:21:30.805+00', '2026-11-29 07:21:30.805+00', '', '', 'l8GpMAHpYLMyhzBVA5zNwzmGhuglGKrN');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('B2uHojOrOTTlVGPQEyg5RkrDQWbB3cIO', '2026-12-06 07:21:30.881+00', 'bVWygd7t6vwnlAoLREJHRTOTNdjXTjeQ', '2026-11-29 07:21:30.884+00', '2026-11-29 07:21:30.884+00', '', '', 'XYaJvaz0iESlzC9nlDvsQjzhrVhDv33b');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('xCg69pj5Oa7ZGq6hmd4dG6UorQMHVY6S', '2026-12-06 07:21:31.073+00', 'vrcpZKXZmp9Hzgc3TrOVyCf51DIDrQHZ', '2026-11-29 07:21:31.073+00', '2026-11-29 07:21:31.073+00', '', '', 'NvYFbQ5oUfYZUgrMyNaaSxfLOPrNvPkq');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('2QdjQ65n3q8e19C1Dt1rwelvXxEMdEox', '2026-12-06 07:21:31.153+00', 'VnYmxHA1IzhjwDrEBBmHPMZObdBpGUKQ', '2026-11-29 07:21:31.153+00', '2026-11-29 07:21:31.153+00', '', '', 'XYaJvaz0iESlzC9nlDvsQjzhrVhDv33b');


--
-- Data for Name: user; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('9tBQjvgjeKZB2ivMOn6rgHWsq45bb681', 'Alice', 'alice@example.com', false, NULL, '2026-11-29 07:21:29.48+00', '2026-11-29 07:21:29.48+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('lo0aKSICHdVjao6WfdK5C58W4SJzzmwh', 'Carol', 'carol@example.com', false, NULL, '2026-11-29 07:21:29.961+00', '2026-11-29 07:21:29.961+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('5HpQEeCOlkpDMy7S849UR5tMTI3MP1RO', 'Dave', 'dave@example.com', true, NULL, '2026-11-29 07:21:30.049+00', '2026-11-29 07:21:30.049+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('SgoJH7p4tAXyV1NSoiYep0OzIioXlj62', 'Frank', 'frank@example.com', true, NULL, '2026-11-29 07:21:30.139+00', '2026-11-29 07:21:30.139+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('LJns0WE5cWIDYMTlDRHi47jisNaYpPCk', 'Heidi', 'heidi@example.com', true, NULL, '2026-11-29 07:21:30.177+00', '2026-11-29 07:21:30.177+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('l8GpMAHpYLMyhzBVA5zNwzmGhuglGKrN', 'Bob', 'bob@example.com', true, NULL, '2026-11-29 07:21:29.757+00', '2026-11-29 07:21:30.801+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('XYaJvaz0iESlzC9nlDvsQjzhrVhDv33b', 'Erin', 'erin@example.com', true, NULL, '2026-11-29 07:21:30.858+00', '2026-11-29 07:21:30.858+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('NvYFbQ5oUfYZUgrMyNaaSxfLOPrNvPkq', 'Grace', 'grace@example.com', true, NULL, '2026-11-29 07:21:31.067+00', '2026-11-29 07:21:31.067+00');


--
-- Data for Name: verification; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: account account_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY account
    ADD CONSTRAINT account_pkey PRIMARY KEY (id);


--
-- Name: session session_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY session
    ADD CONSTRAINT session_pkey PRIMARY KEY (id);


--
-- Name: session session_token_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY session
    ADD CONSTRAINT session_token_key UNIQUE (token);


--
-- Name: user user_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY "user"
    ADD CONSTRAINT user_email_key UNIQUE (email);


--
-- Name: user user_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY "user"
    ADD CONSTRAINT user_pkey PRIMARY KEY (id);


--
-- Name: verification verification_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY verification
    ADD CONSTRAINT verification_pkey PRIMARY KEY (id);


--
-- Name: account_userId_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "account_userId_idx" ON account USING btree ("userId");


--
-- Name: session_userId_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "session_userId_idx" ON session USING btree ("userId");


--
-- Name: verification_identifier_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX verification_identifier_idx ON verification USING btree (identifier);


--
-- Name: account account_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY account
    ADD CONSTRAINT "account_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user"(id) ON DELETE CASCADE;


--
-- Name: session session_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY session
    ADD CONSTRAINT "session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user"(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


