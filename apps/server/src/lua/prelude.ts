// The Lua half of tarantype's `box` module: what a Tarantool user's Lua sees (box.cfg, box.info,
// box.space.<name>:<method>, box.schema.*, box.once, box.error, tuples, fiber, log, os.exit).
// Layer: apps/server (the Lua console and EVAL). It is a thin layer: every box operation goes
// to the one implementation of the Lua conventions in lua-api.ts through `js.call(name, …)`
// (the same names and semantics as iproto CALL), and the few things Lua must do itself
// (tuples, iteration, box.once's function, fibers) stay here. A JS operation that has to wait
// returns a promise that `wait` awaits, which suspends the calling Lua coroutine only: to Lua
// the call looks synchronous, while Node keeps serving other sessions.
// Invariant: `js` is captured here and removed from the globals, so user code cannot reach
// the raw bindings (and call them as another user).
export const PRELUDE = String.raw`
local js = __tarantype_js
__tarantype_js = nil

__tarantype_null = setmetatable({}, {__name = 'box.NULL', __tostring = function() return 'NULL' end})
__tarantype_order = setmetatable({}, {__mode = 'k'})
__tarantype_flow_seq = {__serialize = 'seq'}
__tarantype_flow_map = {__serialize = 'map'}
__tarantype_block_map = {__serialize = 'mapping'}

local NULL = __tarantype_null
local unpack = table.unpack
local pack = table.pack

-- {{{ errors
local error_mt = {__name = 'box.error'}
error_mt.__index = {
  unpack = function(self) return {type = self.type, code = self.code, message = self.message} end,
  raise = function(self) error(self, 2) end,
}
error_mt.__tostring = function(self) return self.message end
-- The console prints an error object as its message, as Tarantool's box.error cdata.
error_mt.__serialize = function(self) return self.message end

local function make_error(e)
  return setmetatable({type = e.type, code = e.code, message = e.message}, error_mt)
end

-- Waits for a JS result: {ok = true, values = {…}, n = count} or {ok = false, error = {…}}.
local function wait(result)
  if type(result) == 'userdata' then result = result:await() end
  if not result.ok then error(make_error(result.error), 3) end
  return unpack(result.values, 1, result.n)
end

local function call(name, ...)
  return wait(js.call(name, ...))
end
-- }}}

-- {{{ tuples
local tuple_methods = {}
local tuple_mt = {__name = 'tuple', __index = tuple_methods}
local function tuple(fields)
  if type(fields) ~= 'table' then return fields end
  return setmetatable(fields, tuple_mt)
end
function tuple_methods.totable(self, from, to)
  local out = {}
  for i = from or 1, to or #self do out[#out + 1] = self[i] end
  -- Tarantool's tuple:totable() result prints in flow style, like the tuple.
  return setmetatable(out, __tarantype_flow_seq)
end
function tuple_methods.unpack(self, from, to) return unpack(self, from or 1, to or #self) end
function tuple_methods.bsize(self) return js.tuple_bsize(self) end
local function tuples(list)
  for i = 1, #list do tuple(list[i]) end
  return list
end
-- }}}

-- {{{ spaces and indexes
local space_methods = {}
local index_methods = {}
local spaces = setmetatable({}, {__mode = 'v'})
local index_mt = {__index = index_methods}

-- Results: nothing for "not found", as Tarantool's get/delete/update/min/max return nothing.
local function one(t)
  if t == nil or t == NULL then return end
  return tuple(t)
end

local function space_object(info)
  for _, i in pairs(info.index) do setmetatable(i, index_mt) end
  local s = spaces[info.id]
  if s == nil then
    -- The descriptor itself becomes the object: it keeps the field order JS gave it.
    s = setmetatable(info, {__index = space_methods})
    spaces[info.id] = s
    return s
  end
  for k, v in pairs(info) do rawset(s, k, v) end
  return s
end

local function refresh(s)
  local info = js.space(s.id)
  if info ~= nil and info ~= NULL then space_object(info) end
  return s
end

local function target(self)
  if type(self) ~= 'table' or self.id == nil then
    error(make_error(js.error_object(1, 'Use space:method(...) instead of space.method(...)')), 3)
  end
  return 'box.space.' .. self.id
end

for _, m in ipairs({'insert', 'replace', 'put', 'update', 'delete', 'get', 'min', 'max'}) do
  space_methods[m] = function(self, ...) return one(call(target(self) .. ':' .. m, ...)) end
end
function space_methods.upsert(self, ...) call(target(self) .. ':upsert', ...) end
function space_methods.select(self, ...) return tuples(call(target(self) .. ':select', ...)) end
for _, m in ipairs({'count', 'len', 'bsize'}) do
  space_methods[m] = function(self, ...) return call(target(self) .. ':' .. m, ...) end
end
function space_methods.truncate(self) call(target(self) .. ':truncate') end
function space_methods.drop(self) call(target(self) .. ':drop') end
function space_methods.create_index(self, name, options)
  local index = call(target(self) .. ':create_index', name, options)
  refresh(self)
  return setmetatable(index, index_mt)
end
function space_methods.pairs(self, key, options)
  local list = space_methods.select(self, key, options)
  local i = 0
  return function()
    i = i + 1
    if list[i] ~= nil then return i, list[i] end
  end, list, 0
end
space_methods.ipairs = space_methods.pairs

local function index_target(self)
  return 'box.space.' .. self.space_id .. '.index.' .. self.id
end
for _, m in ipairs({'get', 'min', 'max', 'delete', 'update'}) do
  index_methods[m] = function(self, ...) return one(call(index_target(self) .. ':' .. m, ...)) end
end
function index_methods.select(self, ...) return tuples(call(index_target(self) .. ':select', ...)) end
function index_methods.count(self, ...) return call(index_target(self) .. ':count', ...) end
function index_methods.pairs(self, key, options)
  local list = index_methods.select(self, key, options)
  local i = 0
  return function()
    i = i + 1
    if list[i] ~= nil then return i, list[i] end
  end, list, 0
end

local box = {NULL = NULL}
-- Space objects by name, valid while the schema version stays (DDL bumps it): box.space.x in
-- a loop does not rebuild the object each time.
local by_name = {}
local by_name_version = -1
box.space = setmetatable({}, {
  __index = function(_, name)
    local version = js.schema_version()
    if version ~= by_name_version then
      by_name = {}
      by_name_version = version
    end
    local cached = by_name[name]
    if cached ~= nil then return cached end
    local info = js.space(name)
    if info == nil or info == NULL then return nil end
    local s = space_object(info)
    by_name[name] = s
    return s
  end,
  __serialize = function() return js.space_names() end,
})
-- }}}

-- {{{ box.cfg and box.info
box.cfg = setmetatable({}, {
  __call = function(_, options) call('box.cfg', options or {}) end,
  __index = function(_, name)
    local value = js.cfg()[name]
    if value == NULL then return nil end
    return value
  end,
  __serialize = function() return js.cfg() end,
})

local function info_value(name)
  if name == 'memory' then return function() return js.info_memory() end end
  if name == 'gc' then return function() return js.info_gc() end end
  if name == 'server' then return js.info_server() end
  -- One field crosses into Lua, not the whole table (box.info.id in a loop stays cheap).
  local value = js.info_field(name)
  if value == NULL then return nil end
  return value
end

box.info = setmetatable({}, {
  __call = function() return js.info() end,
  __index = function(_, name) return info_value(name) end,
  __serialize = function() return js.info() end,
})
box.stat = function() return call('box.stat') end
box.snapshot = function() return call('box.snapshot') end
-- }}}

-- {{{ box.schema
local function call_fn(name)
  return function(...) return call(name, ...) end
end
local function space_create(name, options)
  local exists = js.space(name)
  local info = call('box.schema.space.create', name, options)
  local s = space_object(js.space(info.id))
  if exists ~= nil and exists ~= NULL then return s, 'not created' end
  return s, 'created'
end
box.schema = {
  space = {create = space_create},
  user = {},
  role = {},
  func = {},
}
for _, name in ipairs({'create', 'drop', 'passwd', 'exists', 'grant', 'revoke'}) do
  box.schema.user[name] = call_fn('box.schema.user.' .. name)
end
for _, name in ipairs({'create', 'drop', 'exists'}) do
  box.schema.role[name] = call_fn('box.schema.role.' .. name)
  box.schema.func[name] = call_fn('box.schema.func.' .. name)
end
box.schema.role.grant = box.schema.user.grant
box.schema.role.revoke = box.schema.user.revoke
box.schema.create_space = space_create
-- }}}

-- {{{ box.once, box.error, box.session
function box.once(key, fn, ...)
  if type(key) ~= 'string' or type(fn) ~= 'function' then
    error(make_error(js.error_object(1, 'Usage: box.once(key, func, ...)')), 2)
  end
  if wait(js.once(key)) then return fn(...) end
end

box.error = setmetatable({
  new = function(code, ...)
    if type(code) == 'table' then return make_error(js.error_custom(code)) end
    return make_error(js.error_object(code, ...))
  end,
}, {
  __call = function(self, code, ...)
    if code == nil then error('box.error(): bad arguments', 2) end
    error(self.new(code, ...), 2)
  end,
  __index = function(_, name) return js.error_code(name) end,
})

box.session = {
  id = function() return js.session_id() end,
  user = function() return js.session_user() end,
  uid = function() return js.session_uid() end,
}
-- }}}

-- {{{ fiber, log, require, os.exit
local fiber_mt = {__index = {
  id = function(self) return self.fid end,
  status = function(self) return js.fiber_status(self.fid) end,
}}
local fiber_functions = {}
local next_fiber = 0
function __tarantype_fiber_run(fid)
  local entry = fiber_functions[fid]
  fiber_functions[fid] = nil
  return entry.fn(unpack(entry.args, 1, entry.args.n))
end
local fiber = {
  sleep = function(seconds) wait(js.sleep(tonumber(seconds) or 0)) end,
  yield = function() wait(js.sleep(0)) end,
  create = function(fn, ...)
    if type(fn) ~= 'function' then
      error(make_error(js.error_object(1, 'fiber.create(function, ...)')), 2)
    end
    next_fiber = next_fiber + 1
    fiber_functions[next_fiber] = {fn = fn, args = pack(...)}
    js.fiber_start(next_fiber)
    return setmetatable({fid = next_fiber}, fiber_mt)
  end,
  time = function() return js.time() end,
  clock = function() return js.clock() end,
}

local function logger(level)
  return function(fmt, ...)
    local text = fmt
    if select('#', ...) > 0 then text = string.format(tostring(fmt), ...) end
    js.log(level, tostring(text))
  end
end
local log = {
  info = logger('info'), warn = logger('warn'), error = logger('error'),
  verbose = logger('verbose'), debug = logger('debug'), crit = logger('crit'),
}

-- require('console').eval(code): what a console over the binary port sends (as tarantoolctl
-- connect does): the YAML to print, or nil while the statement is incomplete.
local console = {
  eval = function(code)
    local r = __tarantype_console(tostring(code))
    if r.incomplete then return nil end
    return js.format(r)
  end,
}

local json = {
  encode = function(value) return js.json_encode(value) end,
  decode = function(text) return js.json_decode(tostring(text)) end,
  NULL = NULL,
}

local modules = {box = box, fiber = fiber, log = log, console = console, json = json}
function require(name)
  local module = modules[name]
  if module == nil then error("module '" .. tostring(name) .. "' not found", 2) end
  return module
end

os.exit = function(code)
  js.exit(tonumber(code) or 0)
  -- The process is stopping: this coroutine never resumes.
  wait(js.never())
end
-- }}}

box.tuple = {new = function(...)
  local fields = ...
  if type(fields) ~= 'table' or select('#', ...) > 1 then fields = pack(...); fields.n = nil end
  return tuple(fields)
end}

_G.box = box

-- {{{ entry points used by the runtime
local function serialize(value)
  local mt = getmetatable(value)
  if type(value) == 'table' and type(mt) == 'table' and type(mt.__serialize) == 'function' then
    return mt.__serialize(value)
  end
  return value
end

local function error_value(e)
  if getmetatable(e) == error_mt then return {type = e.type, code = e.code, message = e.message} end
  if type(e) == 'userdata' then return {message = tostring(e)} end
  return {message = e == nil and NULL or tostring(e), lua = true}
end

-- LuaJIT's name for a chunk loaded from a string, which Tarantool users see in messages:
-- [string "<source>"], cut at the first newline or after 45 characters when longer than 48.
local function chunkname(code)
  local line = code:match('^[^\n]*')
  if line ~= code or #line > 48 then line = line:sub(1, 45) .. '...' end
  return '=[string "' .. line .. '"]'
end

-- One console statement: tries "return <code>" first, as Tarantool's console does.
function __tarantype_console(code)
  local f, err = load('return ' .. code, chunkname('return ' .. code))
  if f == nil then f, err = load(code, chunkname(code)) end
  if f == nil then
    if err:sub(-5) == '<eof>' then return {incomplete = true} end
    return {ok = false, error = {message = err, lua = true}}
  end
  local r = pack(xpcall(f, function(e) return e end))
  if not r[1] then return {ok = false, error = error_value(r[2])} end
  local values = {}
  for i = 2, r.n do
    local v = r[i]
    if v == nil then v = NULL end
    -- __serialize may fail (box.info before box.cfg{}): an error to print, as any other.
    local ok, s = xpcall(serialize, function(e) return e end, v)
    if not ok then return {ok = false, error = error_value(s)} end
    values[i - 1] = s
  end
  return {ok = true, values = values, n = r.n - 1}
end

-- The values list of an EVAL or CALL result: lua-values.ts converts each value as 2.6's
-- msgpack encoder would (at most 128 nested tables, else "Too high nest level - 129").
local results_mt = {__name = 'tarantype.results'}

-- EVAL: the chunk with ... bound to the request's arguments.
function __tarantype_eval(code, args)
  local f, err = load(code, '=eval')
  if f == nil then return {ok = false, error = {message = err, lua = true}} end
  local r = pack(xpcall(f, function(e) return e end, unpack(args, 1, #args)))
  if not r[1] then return {ok = false, error = error_value(r[2])} end
  local values = {}
  for i = 2, r.n do
    local v = r[i]
    if v == nil then v = NULL end
    values[i - 1] = v
  end
  return {ok = true, values = setmetatable(values, results_mt), n = r.n - 1}
end

-- CALL of a global Lua function by its (dotted) name; nil when there is none.
function __tarantype_lookup(name)
  local value = _G
  for part in string.gmatch(name, '[^.:]+') do
    if type(value) ~= 'table' then return nil end
    value = rawget(value, part)
  end
  if type(value) == 'function' then return true end
  return nil
end

function __tarantype_call(name, args)
  local fn = _G
  for part in string.gmatch(name, '[^.:]+') do fn = rawget(fn, part) end
  local r = pack(xpcall(fn, function(e) return e end, unpack(args, 1, #args)))
  if not r[1] then return {ok = false, error = error_value(r[2])} end
  local values = {}
  for i = 2, r.n do
    local v = r[i]
    if v == nil then v = NULL end
    values[i - 1] = v
  end
  return {ok = true, values = setmetatable(values, results_mt), n = r.n - 1}
end
-- }}}
`;
