local ffi = require('ffi')
ffi.cdef[[ struct errcode_record { const char *errstr; const char *errdesc; }; extern struct errcode_record box_error_codes[]; ]]
local ok, err = pcall(function()
  for i = 0, 230 do
    local r = ffi.C.box_error_codes[i]
    if r.errstr == nil then break end
    print(i .. '\t' .. ffi.string(r.errstr) .. '\t' .. ffi.string(r.errdesc))
  end
end)
if not ok then print('ERR', err) end
os.exit(0)
