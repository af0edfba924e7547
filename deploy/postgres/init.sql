-- A stand-in for an existing user database: column names differ from
-- Livefyre's and the table holds columns that must never leave it.
CREATE TABLE IF NOT EXISTS public.users (
  id            bigint PRIMARY KEY,
  nickname      text NOT NULL,
  email_address text,
  avatar        text,
  password_hash text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

INSERT INTO public.users (id, nickname, email_address, avatar, password_hash)
SELECT n, 'user ' || n, 'user' || n || '@example.com',
       'https://cdn.example.com/avatars/' || n || '.jpg?v=1', md5(random()::text)
FROM generate_series(1, 1000) AS n
ON CONFLICT DO NOTHING;

-- The least-privilege role pingpull connects as (see the README).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pingpull') THEN
    CREATE ROLE pingpull LOGIN REPLICATION PASSWORD 'pingpull';
  END IF;
END $$;
GRANT SELECT ON public.users TO pingpull;
GRANT CREATE ON DATABASE app TO pingpull;
