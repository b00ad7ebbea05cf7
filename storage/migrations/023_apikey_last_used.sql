-- When each admin API key was last used (to the minute: written at most once a minute per key),
-- shown by GET /api/v1/apikeys and `warblerctl apikey list`. No chat data here.
ALTER TABLE admin_apikeys ADD COLUMN last_used_at timestamptz;
