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

INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('qHKrxAxoatoQZCM7VddZygExVfLYs8Oi', '9j1v1E2LwTDwjpqxSq6yuw4KOR8pE3WR', 'credential', '9j1v1E2LwTDwjpqxSq6yuw4KOR8pE3WR', NULL, NULL, NULL, NULL, NULL, NULL, 'f0c7993ee68a3c48dc0140e0f2a3ccff:47790d0b81075bca55bc58ca3b157ce1949223e905da17b1a8d12efb04989a3631740ecaf3208cea1bd3a486a70950e97ef70fba2e98a71c321d8b9fc957b9ac', '2026-11-29 07:21:33.261+00', '2026-11-29 07:21:33.261+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('A3HNmyRfaz2ypf0vU8xtSWgOoxvOnsPn', '2zEDsqFlgDBdPPuHAf2lZZSQ2ogfDEaF', 'credential', '2zEDsqFlgDBdPPuHAf2lZZSQ2ogfDEaF', NULL, NULL, NULL, NULL, NULL, NULL, '00d54586a2dafdf87674893da14cf2f6:2c55ffdbfc96df3899701a647e8f5bba06bb3beea47f28f92aae5a7bb58f0c738346fe4f33a18581d85d59855899e368cf263a0cdd1c556f673d359a38f20630', '2026-11-29 07:21:33.885+00', '2026-11-29 07:21:33.885+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('A0Zqbrvogz2aLkaVTckjCHmqZLTrVeiq', 'Xuqrq8J7epIHzMtBy9AOmJy3PtNQxbnW', 'credential', 'Xuqrq8J7epIHzMtBy9AOmJy3PtNQxbnW', NULL, NULL, NULL, NULL, NULL, NULL, '4c129e919213e655c32adc51be26d310:3ddba62d2438786a91052c4a430debd3162994a77f989e62d03a6f7b35f6675d3ed5b42c6d72da2437f50ce34e0db813d80157a4c81e7ff0e0bd70250608f0f1', '2026-11-29 07:21:34.532+00', '2026-11-29 07:21:34.532+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('0wAv5nGvlnpoBmL2RumToF4W3ZQKsthg', 'acme-sub-dave', 'acme', 'cpi4cIOMnjVwI4abo595mlvaBhiNoN0r', '32bbb34d006699773a04e44e1b68b5819c3bd3efed66206ec5b5ed54192ecaaf16ca87827f50e676ac9b2a4ae1120a6abb15317e0f169ac5ccbef60fb150cc7802117b93a7083aee', 'b29e6c68b387efaf86889e1ed136f1b7c8b6ce9d0c17506f0b8bcc9d46cf428be177c885652cb4789793a638726483cc9106de50e58e73b35630e2605f2f9058a61e', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItZGF2ZSIsImVtYWlsIjoiZGF2ZUBleGFtcGxlLmNvbSIsImVtYWlsX3ZlcmlmaWVkIjp0cnVlLCJuYW1lIjoiRGF2ZSIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.w2gqDJWRXqC6gJsPEsrw6EtNYT9zOhLL_9yGHjRHPH8', '2026-11-29 08:21:33.642+00', '2026-12-06 07:21:34.642+00', 'openid,email,profile', NULL, '2026-11-29 07:21:34.67+00', '2026-11-29 07:21:34.67+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('SiAQLASQKsQUQL2dgrG6nTw6lxfWhBQA', 'hub-frank', 'acme', 'mUBkJmUfEzjEssd5Oht3EKm8B0pAc3Og', '23b6a7ff8a98bb6927a9fc8154e1c9746f473eccb32e0f94577303c883a516e9e84ca1225fceeff689a178877f36ca7bb8bdcd68aebc61463bcd00dbddd1dff9', NULL, NULL, NULL, NULL, '', NULL, '2026-11-29 07:21:34.768+00', '2026-11-29 07:21:34.768+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('kDToSTtGTmKuuJVJhuzROdxjEGjLmQwj', 'hub-heidi', 'hexhub', 'sHD7TJlLe457mKztLkm4bBh81ch5rxCc', 'ec878d1b7263095282152a59bdc6f22ab1f71e5aa46f7be1482a8dbde49e7ed204abbbee814820c27c283875fd4b8d9abd186d3cb4fad984049719ca3e2f23a76967f9d0dba8859a40b052c859a49704a508c8d443acf7d06fd6ecff373334d4ed2b80aa3752254d', '7ced685f348a1b38cc37e12f99845c17e36f7f4b447380a67139ede1a32b5d6342d626c3e415f52eaf5be7218ddc314348b0de9527ea0e90a63f9102035ca75e415f0493603d65235a419ddd84aeea69', NULL, '2026-11-29 15:21:34.835+00', NULL, 'read:user', NULL, '2026-11-29 07:21:34.855+00', '2026-11-29 07:21:34.855+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('q3KMVWXlh6h1emclB8aZ2v6Ny0R3np2s', 'acme-sub-alice', 'acme', '9j1v1E2LwTDwjpqxSq6yuw4KOR8pE3WR', '62df1b6a9c6c85521e86fd9c52980b2183b73edbe83e6805397abd39623a8edd480c68b4bfb45ec90fef01eed583413fc0403c63ab6d8892e6bdd20c6fb23fe7de8b4c89d6e05bd812', '0881fa9c9d6ce44de91a6a90d9ef07c6ee8545b3885b65c74775ed0a14a3277e2e55d7aebe24aba17455ab534ffc685e4f7decdf87d174da770ab6f3a76841caa6658e', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItYWxpY2UiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwiZW1haWxfdmVyaWZpZWQiOnRydWUsIm5hbWUiOiJBbGljZSIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.2D967U0xHG3K3EU6vgMrpuA5RRp2kFuXfyDvVoqTmgU', '2026-11-29 08:21:34.312+00', '2026-12-06 07:21:35.312+00', 'openid,email,https://www.googleapis.com/auth/calendar.readonly', NULL, '2026-11-29 07:21:35.326+00', '2026-11-29 07:21:35.326+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('y45novir7WZuzcdl0Vhv0OYyE5cbDnDb', 'hub-erin', 'hexhub', 'Y5L9r1I4pYeX4O1YQnbvmjAPf502JJtE', '02f3059a080693b80ac49d8903fec60645904a0f88d5102453cc3b02f6e60df4335e25f56e4ae7e37a3a232eab227082e4c894cecbe9b4d84e9ae37bca09ca4a20d4d1cb5f765ab5523d23eee6ffa0f743b3e9684db1044f29f380d3154d99710f2dc913cdba04118cf49349f20ba81ddc88a61bf70935e8ffb5baeafc151efbfc42cededc5fd2e552e0ef928b96e123999a73ea8020c468c2be8c081c2adb9688aaf8941f614354', 'f84760d13f81a6a66afc33e5cc328381b8ef28a8b06ac696c94c5dbe104319779d9f258f6f4025662fe2c85c8351fd4237f8052789591b2b6ec402e23b440cf785088440ac74431ef7e111a84311e65074647e0fd97d431730935f79c4b99e33cebc0bbfecc46ab3b05c0409c3cc51f5de290e7d6c17967e119cc3ae4dd7e535dd622e56e16e0c7b', NULL, '2026-11-29 15:21:35.552+00', '2027-06-01 07:21:35.552+00', 'repo,user', NULL, '2026-11-29 07:21:35.44+00', '2026-11-29 07:21:35.577+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('mQ0I4QIpZknr3biQmi5VlyLzak89GAVs', 'acme-sub-bob', 'acme', '2zEDsqFlgDBdPPuHAf2lZZSQ2ogfDEaF', '98cd6f79345825605eec0e9e0734828669d986fa1e06477b2cb08a8485761083ce6bbb8ac347428bd3c021f9c78386cdb63c972783bd7ea0919df95bfd2b79ab8649584306740a', '2b96e0a1c5c62b61c346da0ddcac9f7f173c4bcba5673b2793a3e36bfd69cf9caa5ee21f2f50f3d94bc6ba85886b14e280210e8a59cec5db69a0121bf8304865da', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItYm9iIiwiZW1haWwiOiJib2JAZXhhbXBsZS5jb20iLCJlbWFpbF92ZXJpZmllZCI6dHJ1ZSwibmFtZSI6IkJvYiIsImlhdCI6MTc2NzIyNTY2MCwiZXhwIjoxNzY3MjI5MjYwfQ.pWZj9OHRRoXtH6qj0eu_znZS_08QHwKrxARlaB4pe4I', '2026-11-29 08:21:34.611+00', '2026-12-06 07:21:35.357+00', 'openid,email', NULL, '2026-11-29 07:21:35.374+00', '2026-11-29 07:21:35.62+00');
INSERT INTO account (id, "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", scope, password, "createdAt", "updatedAt") VALUES ('QqQbenAy2QbO9EDMKrPZ0fE8CCeUZ5IK', 'acme-sub-grace', 'acme', 'fFcIjEPRvhhbOGrtzFWECEOcFK60Ii84', 'af6059ad992f21a35710afbd2f834c2d46a011db4e9451a7c25ff711bcf3757ff47903c83372e0f05545e7a42ca1d1a1f32a4708ba02cf8687702e3033aae5b1e3761d79044f90df2f', '9b06792d3355c273c4ca4fbba46f69975555506b0fb3e671c263545316bdd61dd991623a8deb87ecb859b0b2cd3ad1c9334704e9b8c7047e993d09b5951bc312dceadf', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZpeHR1cmUifQ.eyJpc3MiOiJodHRwczovL2FjbWUuZXhhbXBsZSIsImF1ZCI6ImZpeHR1cmUtY2xpZW50Iiwic3ViIjoiYWNtZS1zdWItZ3JhY2UiLCJlbWFpbCI6ImdyYWNlQGV4YW1wbGUuY29tIiwiZW1haWxfdmVyaWZpZWQiOnRydWUsIm5hbWUiOiJHcmFjZSIsImlhdCI6MTc2NzIyNTcyMCwiZXhwIjoxNzY3MjI5MzIwfQ.qfVE4HgOl1TwRCBObQrfLRSSN3cU6HbFGreNX7tWtCs', '2026-11-29 08:21:34.683+00', '2026-12-06 07:21:35.683+00', 'openid,email,profile', NULL, '2026-11-29 07:21:35.501+00', '2026-11-29 07:21:35.684+00');


--
-- Data for Name: session; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('X2Dqb4slQPRVbCwVHQSVjjObTOe71IXj', '2026-12-06 07:21:33.267+00', '8UBVVd18BzX3kkBkMw92xmTQE4YsgCaU', '2026-11-29 07:21:33.267+00', '2026-11-29 07:21:33.267+00', '', '', '9j1v1E2LwTDwjpqxSq6yuw4KOR8pE3WR');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('cLmrtsaDV1ozVZlF4VJb72anI3jRjGpD', '2026-12-06 07:21:33.902+00', '6ew1SOZBnSBbCAuyUdUBOZlZqmQwqbZE', '2026-11-29 07:21:33.902+00', '2026-11-29 07:21:33.902+00', '', '', '2zEDsqFlgDBdPPuHAf2lZZSQ2ogfDEaF');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('Em5NRq5kTiHlVwxGujoVjid1aHJ1NMVa', '2026-12-06 07:21:34.539+00', 'WAwTbUA23jfXWVvqilvxglV1VLWwThzb', '2026-11-29 07:21:34.54+00', '2026-11-29 07:21:34.54+00', '', '', 'Xuqrq8J7epIHzMtBy9AOmJy3PtNQxbnW');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('bnWZkaLBJZYoi8BP6jPVqHD0wO5XK5XN', '2026-12-06 07:21:34.677+00', 'rab8i3czEYEuc3qrinjMx4Dw0M9yykwg', '2026-11-29 07:21:34.678+00', '2026-11-29 07:21:34.678+00', '', '', 'cpi4cIOMnjVwI4abo595mlvaBhiNoN0r');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('SiLjMue696XWeDYb2QCCcfv2sip5LYqh', '2026-12-06 07:21:34.78+00', 'CUv2mfR7VsflbjH8HjJU49CmBoeheXMd', '2026-11-29 07:21:34.78+00', '2026-11-29 07:21:34.78+00', '', '', 'mUBkJmUfEzjEssd5Oht3EKm8B0pAc3Og');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('dW7nWpB2dc6hSKObb2DWCE3ms5QxQ9Nc', '2026-12-06 07:21:34.86+00', 'KcyVekI22w3k1awyyFL6vn7kN4ZVdEiE', '2026-11-29 07:21:34.86+00', '2026-11-29 07:21:34.86+00', '', '', 'sHD7TJlLe457mKztLkm4bBh81ch5rxCc');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('8zyH4aaHKfQivMdGCQ0NqIQ02XlqoBrm', '2026-12-06 07:21:35.214+00', 'pcU116pEWur4qymb51ewPAqTcZSHQaUo', '2026-11-29 07:21:35.215+00', '2026-11-29 07:21:35.215+00', '', '', '9j1v1E2LwTDwjpqxSq6yuw4KOR8pE3WR');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('F9kyF0QPAniOpbdlKQADfSP3tUqFReFn', '2026-12-06 07:21:35.38+00', 'tUrXzYhsyxqN9i2jLavZJFgWrRhyS6KT', '2026-11-29 07:21:35.38+00', '2026-11-29 07:21:35.38+00', '', '', '2zEDsqFlgDBdPPuHAf2lZZSQ2ogfDEaF');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('8ITXS6jpjJrVyw5v9o8xE2z9f9P16WzB', '2026-12-06 07:21:35.442+00', '6OXNG32WEuay5lYuS4LRWEBxiQxoLGHn', '2026-11-29 07:21:35.442+00', '2026-11-29 07:21:35.442+00', '', '', 'Y5L9r1I4pYeX4O1YQnbvmjAPf502JJtE');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('3aiPxhng9W1vCqurwZgPVD7BxezxEw2T', '2026-12-06 07:21:35.503+00', '8rGRNWjYEheRYyc0xA3amMIATFRcId0e', '2026-11-29 07:21:35.503+00', '2026-11-29 07:21:35.503+00', '', '', 'fFcIjEPRvhhbOGrtzFWECEOcFK60Ii84');
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES ('VnHRUxeImm1q60oR644S1Ri7y8g9pYfj', '2026-12-06 07:21:35.579+00', '26t5HU3wdPEdoMy59Pxiqz07A8cQ5tLD', '2026-11-29 07:21:35.579+00', '2026-11-29 07:21:35.579+00', '', '', 'Y5L9r1I4pYeX4O1YQnbvmjAPf502JJtE');


--
-- Data for Name: user; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('9j1v1E2LwTDwjpqxSq6yuw4KOR8pE3WR', 'Alice', 'alice@example.com', false, NULL, '2026-11-29 07:21:33.257+00', '2026-11-29 07:21:33.257+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('Xuqrq8J7epIHzMtBy9AOmJy3PtNQxbnW', 'Carol', 'carol@example.com', false, NULL, '2026-11-29 07:21:34.529+00', '2026-11-29 07:21:34.529+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('cpi4cIOMnjVwI4abo595mlvaBhiNoN0r', 'Dave', 'dave@example.com', true, NULL, '2026-11-29 07:21:34.666+00', '2026-11-29 07:21:34.666+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('mUBkJmUfEzjEssd5Oht3EKm8B0pAc3Og', 'Frank', 'frank@example.com', true, NULL, '2026-11-29 07:21:34.764+00', '2026-11-29 07:21:34.764+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('sHD7TJlLe457mKztLkm4bBh81ch5rxCc', 'Heidi', 'heidi@example.com', true, NULL, '2026-11-29 07:21:34.854+00', '2026-11-29 07:21:34.854+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('2zEDsqFlgDBdPPuHAf2lZZSQ2ogfDEaF', 'Bob', 'bob@example.com', true, NULL, '2026-11-29 07:21:33.882+00', '2026-11-29 07:21:35.377+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('Y5L9r1I4pYeX4O1YQnbvmjAPf502JJtE', 'Erin', 'erin@example.com', true, NULL, '2026-11-29 07:21:35.439+00', '2026-11-29 07:21:35.439+00');
INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES ('fFcIjEPRvhhbOGrtzFWECEOcFK60Ii84', 'Grace', 'grace@example.com', true, NULL, '2026-11-29 07:21:35.499+00', '2026-11-29 07:21:35.499+00');


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


