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

INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('oPssZvkknZgQoxBdeq2yeXr8Y3IO5bdW', 'gfB1GSi6WIUjEqn9B69DTCYV6FGXbURr', 'credential', 'gfB1GSi6WIUjEqn9B69DTCYV6FGXbURr', NULL, NULL, NULL, NULL, NULL, NULL, '1f5472b30be905aff2a045d57936877a:7ff35948aa5dfb51345316304ca8d66e44621edba4049d5b9daa8da2919b823f5eac293874da9aab9c08f14a7de48c9a65325d9635a699a203e8d5351b85eccd', '2026-11-29 07:21:37.255+00', '2026-11-29 07:21:37.255+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('62XRqKTyH8gWUjmSg2NiW3Tdtg1984lp', 'BLTrOqmpFHKe8qAD2odRKTWBLrKsWu3M', 'credential', 'BLTrOqmpFHKe8qAD2odRKTWBLrKsWu3M', NULL, NULL, NULL, NULL, NULL, NULL, '56d0b00c6ad44d5a49b44cadb44d60cf:6ea09f6637ab78e705432cecea25c316cd78f9e3ef4971df4d09615f145c85a01c1bb6c0a0ddc60a48ed536fb1ce0a554750331887f67a72fecaf0329e13942d', '2026-11-29 07:21:38.378+00', '2026-11-29 07:21:38.378+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('RMMUbnRCOMAL9733pUguBqtVQ1juBRHy', 'MZBnkdPbjFbJ5SIZ4ECuhZyfRQNUwkJr', 'credential', 'MZBnkdPbjFbJ5SIZ4ECuhZyfRQNUwkJr', NULL, NULL, NULL, NULL, NULL, NULL, '9eeeaaeafd2c7547fba5323b5dbfe556:0863009d2271bece342625b061cb00af847282761493aefd930ec259fbff476967a37573e958a04834c07e489dbb421fa2be91b15ccf0287233fd155fe5d0b26', '2026-11-29 07:21:39.122+00', '2026-11-29 07:21:39.122+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('9EWNAFEInpkQPaSics3n1823lG8gxFuq', 'acme-sub-dave', 'acme', 'PkF9JkkUAeKt7F4fPtU7oMhBGDSUXSkR', '3cfbe80465c7236f709ad4fd72e1a481496efeff0cdce545b0d8e71f8690bee5846b4b9759b7dfafbc7f817468abcff7438adf202f192ea0c6379d5e8feccfc43894e85cde57a4b0', 'c5bd9ae35134c97e25df7cd463f848e33f60c074aa87dd817ff4d4cc1dde7529c5978158dd891888fa9de177e341528f9d59dcdd0c2c702545d2b9d4c7f5f3b6047b', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItZGF2ZSIsImVtYWlsIjoiZGF2ZUBleGFtcGxlLmNvbSIsImVtYWlsX3ZlcmlmaWVkIjp0cnVlLCJuYW1lIjoiRGF2ZSIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.w2gqDJWRXqC6gJsPEsrw6EtNYT9zOhLL_9yGHjRHPH8', '2026-11-29 08:21:38.452+00', '2026-12-06 07:21:39.452+00', 'openid,email,profile', NULL, '2026-11-29 07:21:39.488+00', '2026-11-29 07:21:39.488+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('4pE2OS8vnQbQkzAfqmkt5M4844ThXmZz', 'hub-frank', 'acme', 'MX7M94sGGVzfrdgTfdG4gtVW20qlrjbx', '3ff17a9545f0a3e6d8adf78b4062bfc43528152e8b84c28fa8072904bc23cb89c7e4031680b111ccf922f78ff15bd0175a67cf60b17b9ee98e79e58c9410a5fe', NULL, NULL, NULL, NULL, '', NULL, '2026-11-29 07:21:39.67+00', '2026-11-29 07:21:39.67+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('IArXSS8Vq2MM0RymJlNOeulrJugYZ95R', 'hub-heidi', 'hexhub', '6EzPXW7eqM2EgQU9cFcUsDRtVpDs6KjT', '57a47976e716e58d80f2b11b314c19fc4d2f1d156c42feb13755e14ae47e9f98af6018fef0e591ace7b93b19f0fdd3241dd0bb44d5fde0326b28a2e0ceb681044413f78d4b5cf9ee0ad1a79e346775d05fa4e68ab09f9caed7071e4a0726d4ddb92719b417a4df7a', 'bf2522a010fa46210f643414d98c9088d10b9b2df75cc395a59306097bef7c1fde20ee97c8c3ba3573b2eebdc2cd45c6d33f17ea372154b2669f9eeee63fdc4ae2aa4ae510a6562fbf6bd1b2fd7c0188', NULL, '2026-11-29 15:21:39.784+00', NULL, 'read:user', NULL, '2026-11-29 07:21:39.801+00', '2026-11-29 07:21:39.801+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('DTZAoUQZtZXRHkv1NwTDI3kInIotgE4L', 'acme-sub-alice', 'acme', 'gfB1GSi6WIUjEqn9B69DTCYV6FGXbURr', '$ba$1$57f5ccfc5afad12de24ff1ddbde55eb97656eaada1a1aeba81926bb3209fe945f690fff8b6fdd0e002d6d371e17366d0c7f36c8951b5956f3dd16b777c60cded27f55758ed99c4235c', '$ba$1$5633543fdab648e522a09d2974addb8e6ab727aaf471e23b4b38a3e578329d975cbeaf36b75839b48338bcde07c456c6ef8c7c35c97788815f74fd0980cb9a0fa654a0', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItYWxpY2UiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwiZW1haWxfdmVyaWZpZWQiOnRydWUsIm5hbWUiOiJBbGljZSIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.2D967U0xHG3K3EU6vgMrpuA5RRp2kFuXfyDvVoqTmgU', '2026-11-29 08:21:39.988+00', '2026-12-06 07:21:40.988+00', 'openid,email,https://www.googleapis.com/auth/calendar.readonly', NULL, '2026-11-29 07:21:41.04+00', '2026-11-29 07:21:41.04+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('ciObmta3bEn2AsEZyFzH1ch4WLFAuhJF', 'hub-erin', 'hexhub', 'XzrkA0fL270AbdcLYzf90PZG2kVIXQzg', '$ba$2$6da3bdd4e2770ad6d6ed00ae1a18e2407377abcec4ae62fbf072227e11945fd92284576758aeaf93f4da0cc0e4b488fec9cbf7e13ecfe2958283b757853644b2e363e1de422dc25c8e99f6cae0e42b13819210b7b33f13d163b115c18a753d63f440a3ffb88274acabb5972b9884aaa33156b26cad342c65b55d984c2f816fc73b024d9cacf248bb93f58a73d72bae56d7fa12ecaf2bd10ef47de5a7c1af5178268cb279b7ef1390', '$ba$2$adcb1b8cdd8dc70620e0c38366ab7fcfd3035b60f101cced82f51fe299c07ae6259e8ff77d366c426c5d958c98ad2b845beebc1313e490b103097c9a9d96fb8cf7514691e5e08a2bced9b6c68964951f8c07ac889b95c80bf545ccf17ba9898aff777d3cc8ba199490d3794d34bd3723bea241df9cc4fafef110929269139247aa3f0835e78fe0fe', NULL, '2026-11-29 15:21:42.27+00', '2027-06-01 07:21:42.27+00', 'repo,user', NULL, '2026-11-29 07:21:41.642+00', '2026-11-29 07:21:42.307+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('fL6mKGVnidIFH7AaoEjnQNgKoTgkAN4e', 'acme-sub-bob', 'acme', 'BLTrOqmpFHKe8qAD2odRKTWBLrKsWu3M', '$ba$2$580ed3fae86ccb995095b3dcea5006dff1d51728df966619ea89259e81284072243c4f02994025fe1650df83701b6c470eab414543b276c3a3ff1640cd9b04d0eaff870f5d9d51', '$ba$1$398614178c0f8d472b3641b7eaf4aeef65f5b1788cf126af6de95de7805e90d7bb7b394017c5cad9724b5e0b0a75abbe1d3cfff19dd87972d143b6ad72d4bf3ce6', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItYm9iIiwiZW1haWwiOiJib2JAZXhhbXBsZS5jb20iLCJlbWFpbF92ZXJpZmllZCI6dHJ1ZSwibmFtZSI6IkJvYiIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.pWZj9OHRRoXtH6qj0eu_znZS_08QHwKrxARlaB4pe4I', '2026-11-29 08:21:41.405+00', '2026-12-06 07:21:41.212+00', 'openid,email', NULL, '2026-11-29 07:21:41.275+00', '2026-11-29 07:21:42.41+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('qUFiL2C3yhjM78HjpjRD2ILZk5DXE1Is', 'acme-sub-grace', 'acme', 'z4LPvGsOEpxJ3KN4g0IGATtfZKgY8daR', '$ba$2$77740faa5c27f775284dac2ec76cfeae32329ff54377ffc7629d6a3e026109a279ef4226b09fd0e43f47ab5cb09bceefb023a758f356c5377553f3aaffed106362dec05e55771b97f2', '$ba$2$3960c1c4a539971aa98e5e230fb7b413bb7a637291250e39b6f1f8008977e523a4c4c3f0290b251767f17abf67d28826e3ea378007e790775650a5def7c2e1c749619b', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItZ3JhY2UiLCJlbWFpbCI6ImdyYWNlQGV4YW1wbGUuY29tIiwiZW1haWxfdmVyaWZpZWQiOnRydWUsIm5hbWUiOiJHcmFjZSIsImlhdCI6MTc2NzIyNTcyMCwiZXhwIjoxNzY3MjI5MzIwfQ.qfVE4HgOl1TwRCBObQrfLRSSN3cU6HbFGreNX7tWtCs', '2026-11-29 08:21:41.449+00', '2026-12-06 07:21:42.449+00', 'openid,email,profile', NULL, '2026-11-29 07:21:42.082+00', '2026-11-29 07:21:42.534+00');


--
-- Data for Name: session; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('J9eNVH1CHOFNaUCy0JPvOtXnEalLqlNz', '2026-12-06 07:21:37.26+00', '7IC74umOYBBclnx1nXrlNrldUICXENrB', '2026-11-29 07:21:37.261+00', '2026-11-29 07:21:37.261+00', '', '', 'gfB1GSi6WIUjEqn9B69DTCYV6FGXbURr');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('7ZBq9ooMAIx2nB4qzqSgbe8NBOWIKmN2', '2026-12-06 07:21:38.388+00', 'fpb2gfmPbvcfeGaMJ8812ahSOr06HqTc', '2026-11-29 07:21:38.388+00', '2026-11-29 07:21:38.388+00', '', '', 'BLTrOqmpFHKe8qAD2odRKTWBLrKsWu3M');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('uMq7EESaR24tXwW47gxdJEkaKc2WluUd', '2026-12-06 07:21:39.133+00', 'MhvaLedjR11UOZlDNJ4bewDw6dbIy24u', '2026-11-29 07:21:39.133+00', '2026-11-29 07:21:39.133+00', '', '', 'MZBnkdPbjFbJ5SIZ4ECuhZyfRQNUwkJr');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('qUg8djiksmtHyPD5K8MAMC3cYo44kjL0', '2026-12-06 07:21:39.492+00', 'QppinYC75yXlbSk7iTlwFvi7K8zGW2q7', '2026-11-29 07:21:39.492+00', '2026-11-29 07:21:39.492+00', '', '', 'PkF9JkkUAeKt7F4fPtU7oMhBGDSUXSkR');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('OV8jyJNhjuUmDHNSV3bGJNU9IL7dcksO', '2026-12-06 07:21:39.686+00', 'jXGs9k52cKaffv7EFZAvXfGfD4xhmzIp', '2026-11-29 07:21:39.686+00', '2026-11-29 07:21:39.686+00', '', '', 'MX7M94sGGVzfrdgTfdG4gtVW20qlrjbx');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('MqByUBpKMJNmbejugDARIhIt9skI2TXr', '2026-12-06 07:21:39.809+00', 'PZSIxEuLyjWn6EfFTGiS1Byq4vdTxIH1', '2026-11-29 07:21:39.809+00', '2026-11-29 07:21:39.809+00', '', '', '6EzPXW7eqM2EgQU9cFcUsDRtVpDs6KjT');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('JTYLgj4stL5zoBeqTKE2VhLojhiWh6Sr', '2026-12-06 07:21:40.794+00', 'cGkv29PAYLwZNQxi980SxHIDTM7pJ4eZ', '2026-11-29 07:21:40.794+00', '2026-11-29 07:21:40.794+00', '', '', 'gfB1GSi6WIUjEqn9B69DTCYV6FGXbURr');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('4K2URqVFv5dvm58d5F2PVSsDB5xSvy3Z', '2026-12-06 07:21:41.305+00', 'fB0nLAQCPQCeNEcgHs4Joo0uolllKnKC', '2026-11-29 07:21:41.305+00', '2026-11-29 07:21:41.305+00', '', '', 'BLTrOqmpFHKe8qAD2odRKTWBLrKsWu3M');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('c4XKXP0i9J3fI0e5Ye0VToA4KskTzEYL', '2026-12-06 07:21:41.649+00', 'DTI0by9Xx4z5YiGPgL2jZjUGXLzPzlI4', '2026-11-29 07:21:41.649+00', '2026-11-29 07:21:41.649+00', '', '', 'XzrkA0fL270AbdcLYzf90PZG2kVIXQzg');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('0XcpHermg2UrAEr53Mtq3QuwS72IzhOA', '2026-12-06 07:21:42.141+00', 'R05SDnsEi3b9CMjYxLy4fQqOq0aR3fnC', '2026-11-29 07:21:42.141+00', '2026-11-29 07:21:42.141+00', '', '', 'z4LPvGsOEpxJ3KN4g0IGATtfZKgY8daR');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('Ief2Ie6tQLppXsCUXMzcCINnlefb4fYI', '2026-12-06 07:21:42.341+00', 'bgLBfmrqLs5kWswdtl4WwBTtDvIDVcPY', '2026-11-29 07:21:42.341+00', '2026-11-29 07:21:42.341+00', '', '', 'XzrkA0fL270AbdcLYzf90PZG2kVIXQzg');


--
-- Data for Name: user; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('gfB1GSi6WIUjEqn9B69DTCYV6FGXbURr', 'Alice', 'alice@example.com', false, NULL, '2026-11-29 07:21:37.252+00', '2026-11-29 07:21:37.252+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('MZBnkdPbjFbJ5SIZ4ECuhZyfRQNUwkJr', 'Carol', 'carol@example.com', false, NULL, '2026-11-29 07:21:39.11+00', '2026-11-29 07:21:39.11+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('PkF9JkkUAeKt7F4fPtU7oMhBGDSUXSkR', 'Dave', 'dave@example.com', true, NULL, '2026-11-29 07:21:39.482+00', '2026-11-29 07:21:39.482+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('MX7M94sGGVzfrdgTfdG4gtVW20qlrjbx', 'Frank', 'frank@example.com', true, NULL, '2026-11-29 07:21:39.669+00', '2026-11-29 07:21:39.669+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('6EzPXW7eqM2EgQU9cFcUsDRtVpDs6KjT', 'Heidi', 'heidi@example.com', true, NULL, '2026-11-29 07:21:39.795+00', '2026-11-29 07:21:39.795+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('BLTrOqmpFHKe8qAD2odRKTWBLrKsWu3M', 'Bob', 'bob@example.com', true, NULL, '2026-11-29 07:21:38.365+00', '2026-11-29 07:21:41.289+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('XzrkA0fL270AbdcLYzf90PZG2kVIXQzg', 'Erin', 'erin@example.com', true, NULL, '2026-11-29 07:21:41.637+00', '2026-11-29 07:21:41.637+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('z4LPvGsOEpxJ3KN4g0IGATtfZKgY8daR', 'Grace', 'grace@example.com', true, NULL, '2026-11-29 07:21:42.079+00', '2026-11-29 07:21:42.079+00');


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


