--- "Did you mean" suggestions: the one edit distance of the Lua layer.
-- The distance is the optimal string alignment distance (Damerau-Levenshtein
-- restricted to non-overlapping edits): an insertion, a deletion, a substitution
-- or a transposition of two adjacent characters each count as one edit, so
-- `get_dgas` is one edit from `get_dags`.
-- @module airflow.suggest
local M = {}

--- The number of edits that turn a into b (transpositions count as one).
---@param a string
---@param b string
---@return integer
function M.distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local prev2, prev, row = {}, {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    row[0] = i
    local ca = a:byte(i)
    for j = 1, lb do
      local cb = b:byte(j)
      local best = prev[j - 1] + ((ca == cb) and 0 or 1)
      if prev[j] + 1 < best then best = prev[j] + 1 end
      if row[j - 1] + 1 < best then best = row[j - 1] + 1 end
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb and prev2[j - 2] + 1 < best then
        best = prev2[j - 2] + 1
      end
      row[j] = best
    end
    prev2, prev, row = prev, row, prev2
  end
  return prev[lb]
end

-- The candidate names: an array of names, or the keys of a set.
local function names_of(candidates)
  if #candidates > 0 then return candidates end
  local out = {}
  for k in pairs(candidates) do out[#out + 1] = tostring(k) end
  return out
end

--- Every candidate equally closest to name, sorted; empty when none is close
-- enough (at most a third of the name's length plus one edit away).
---@param name string the misspelt name
---@param candidates string[]|table<string, any> an array of names, or a table whose keys are names
---@return string[]
function M.closest(name, candidates)
  name = tostring(name)
  local limit = math.floor(#name / 3) + 1
  local best, found, seen = math.huge, {}, {}
  for _, c in ipairs(names_of(candidates)) do
    if not seen[c] then
      seen[c] = true
      local d = M.distance(name, c)
      if d < best and d <= limit then
        best, found = d, { c }
      elseif d == best then
        found[#found + 1] = c
      end
    end
  end
  table.sort(found)
  return found
end

--- The hint to append to a message: " (did you mean 'a'?)", " (did you mean 'a' or
-- 'b'?)", " (did you mean 'a', 'b' or 'c'?)", or "" when nothing is close.
---@param name string the misspelt name
---@param candidates string[]|table<string, any> an array of names, or a table whose keys are names
---@return string
function M.hint(name, candidates)
  local near = M.closest(name, candidates)
  if #near == 0 then return "" end
  local quoted = {}
  for i, c in ipairs(near) do quoted[i] = "'" .. c .. "'" end
  local last = table.remove(quoted)
  local list = #quoted > 0 and (table.concat(quoted, ", ") .. " or " .. last) or last
  return " (did you mean " .. list .. "?)"
end

return M
