"""The Lua scripts of billing.limits.ratelimit: every check and record of one authorize in one
script, so that one round trip to Redis decides requests/min, tokens/min and requests in flight
together, and a refusal by any of them records nothing in any (docs/contract.md section 2).

Redis keys (all under ratelimit.KEY_PREFIX):
- `rl:<bucket>`: requests/min, a sorted set of one member per allowed request, scored by its
  time in µs (an exact sliding-window log);
- `rl:t:<bucket>`: tokens/min, a hash of whole seconds to the tokens of the requests allowed in
  that second (held at first, replaced by the reported count at usage);
- `rl:f:<bucket>`: requests in flight, a sorted set of request ids scored by when their hold
  lapses (µs), removed by the usage event of the request;
- `rl:r:<request id>`: what an allowed request holds (its second, its tokens, its buckets), for
  the usage event to settle; it lapses with the hold.

TIME is Redis's clock: every web process measures on the same clock. Calling TIME before writing
is fine since Redis 5 replicates a script's effects, not the script. The settling script touches
the buckets a record names without declaring them in KEYS, which a standalone Redis allows (a
Redis Cluster would not).
"""

# KEYS: n1 request windows, n2 token windows, n3 in-flight sets, then (when n2 + n3 > 0) the
# request's record. ARGV[1]: the window in ms; ARGV[2]: a suffix unique to this call, so that two
# requests in the same microsecond are two entries; ARGV[3], [4], [5]: n1, n2, n3; ARGV[6]: the
# tokens the request holds; ARGV[7]: the hold's lifetime in ms; ARGV[8]: the request id;
# ARGV[8 + i]: the limit of KEYS[i].
# Returns {allowed, kind of the deciding limit (1 requests, 2 tokens, 3 in flight; 0 none), its
# index in KEYS, remaining, its reset (µs), now (µs)}. Allowed, the deciding limit is the request
# window with the fewest requests left (none without request windows).
HIT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local second = tonumber(time[1])
local window = tonumber(ARGV[1]) * 1000
local window_s = math.floor(tonumber(ARGV[1]) / 1000)
local n1, n2, n3 = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local tokens, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local counts = {}
local denied, denied_kind, denied_reset = 0, 0, 0
-- denied by several limits: the caller must wait for the last of them
local function deny(kind, i, reset)
  if denied == 0 or reset > denied_reset then denied, denied_kind, denied_reset = i, kind, reset end
end
for i = 1, n1 do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local limit = tonumber(ARGV[8 + i])
  counts[i] = count
  if count >= limit then
    -- a slot frees when the entry of rank count - limit ages out (the oldest, unless the
    -- limit was lowered); with a limit of 0 none ever does: say one window.
    local reset = now + window
    local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    if entry[2] then reset = tonumber(entry[2]) + window end
    deny(1, i, reset)
  end
end
for i = n1 + 1, n1 + n2 do
  local key = KEYS[i]
  local limit = tonumber(ARGV[8 + i])
  local fields = redis.call('HGETALL', key)
  local seconds, total = {}, 0
  for f = 1, #fields, 2 do
    local s = tonumber(fields[f])
    if s <= second - window_s then
      redis.call('HDEL', key, fields[f])
    else
      local t = tonumber(fields[f + 1])
      total = total + t
      seconds[#seconds + 1] = {s, t}
    end
  end
  counts[i] = total
  if total >= limit then
    -- room comes back when enough of the oldest seconds have left the window
    table.sort(seconds, function(a, b) return a[1] < b[1] end)
    local left, reset = total, (second + window_s) * 1000000
    for _, entry in ipairs(seconds) do
      left = left - entry[2]
      if left < limit then reset = (entry[1] + window_s) * 1000000 break end
    end
    deny(2, i, reset)
  end
end
for i = n1 + n2 + 1, n1 + n2 + n3 do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local count = redis.call('ZCARD', key)
  counts[i] = count
  -- a place frees when a usage event arrives, at any moment: ask again in a second
  if count >= tonumber(ARGV[8 + i]) then deny(3, i, now + 1000000) end
end
if denied > 0 then
  return {0, denied_kind, denied, 0, denied_reset, now}
end
local member = time[1] .. '.' .. time[2] .. '-' .. ARGV[2]
local tightest, tightest_left, tightest_limit = 0, 0, 0
for i = 1, n1 do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
  local limit = tonumber(ARGV[8 + i])
  local left = limit - counts[i] - 1
  if tightest == 0 or left < tightest_left or (left == tightest_left and limit < tightest_limit) then
    tightest, tightest_left, tightest_limit = i, left, limit
  end
end
local held_in, flying_in = {}, {}
for i = n1 + 1, n1 + n2 do
  redis.call('HINCRBY', KEYS[i], second, tokens)
  redis.call('EXPIRE', KEYS[i], window_s + 1)
  held_in[#held_in + 1] = KEYS[i]
end
for i = n1 + n2 + 1, n1 + n2 + n3 do
  redis.call('ZADD', KEYS[i], now + ttl * 1000, ARGV[8])
  redis.call('PEXPIRE', KEYS[i], ttl)
  flying_in[#flying_in + 1] = KEYS[i]
end
if n2 + n3 > 0 then
  local record = KEYS[n1 + n2 + n3 + 1]
  redis.call('HSET', record, 's', second, 't', tokens, 'id', ARGV[8],
             'tb', table.concat(held_in, ' '), 'fb', table.concat(flying_in, ' '))
  redis.call('PEXPIRE', record, ttl)
end
if tightest == 0 then
  return {1, 0, 0, 0, 0, now}
end
local oldest = redis.call('ZRANGE', KEYS[tightest], 0, 0, 'WITHSCORES')
return {1, 1, tightest, tightest_left, tonumber(oldest[2]) + window, now}
"""

# KEYS: the records of the requests whose usage arrived. ARGV[1]: the tokens window in whole
# seconds; ARGV[1 + i]: the tokens the usage event of KEYS[i] reports.
# A record's held tokens become the reported ones in the second of its authorize (while that
# second is in the window), and its request leaves the in-flight sets. Returns how many records
# were settled.
SETTLE = """
local second = tonumber(redis.call('TIME')[1])
local window_s = tonumber(ARGV[1])
local settled = 0
for i, record in ipairs(KEYS) do
  local r = redis.call('HMGET', record, 's', 't', 'tb', 'fb', 'id')
  if r[1] then
    if tonumber(r[1]) > second - window_s then
      local change = tonumber(ARGV[1 + i]) - tonumber(r[2])
      for bucket in string.gmatch(r[3], '%S+') do
        if change ~= 0 and redis.call('HEXISTS', bucket, r[1]) == 1 then
          redis.call('HINCRBY', bucket, r[1], change)
        end
      end
    end
    for bucket in string.gmatch(r[4], '%S+') do redis.call('ZREM', bucket, r[5]) end
    redis.call('DEL', record)
    settled = settled + 1
  end
end
return settled
"""

# KEYS: pairs of a token window and an in-flight set (either may be absent). ARGV[1]: the
# tokens window in whole seconds. Returns, per pair, {tokens in the window, requests in flight}.
USE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local second = tonumber(time[1])
local window_s = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  local fields = redis.call('HGETALL', KEYS[i])
  local total = 0
  for f = 1, #fields, 2 do
    if tonumber(fields[f]) > second - window_s then total = total + tonumber(fields[f + 1]) end
  end
  out[#out + 1] = total
  out[#out + 1] = redis.call('ZCOUNT', KEYS[i + 1], string.format('(%.0f', now), '+inf')
end
return out
"""
