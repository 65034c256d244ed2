-- Argo CD health check for stjob.dev/SentenceTransformerJob (runs in Argo CD's Lua 5.1 VM).
-- Maps the status contract in docs/contracts.md onto Argo CD health:
--   observedGeneration behind metadata.generation -> Progressing (the operator has not acted yet)
--   Failed phase or Stalled=True                  -> Degraded (with the Failed condition's reason)
--   Succeeded                                     -> Healthy
--   Suspended                                     -> Suspended
--   Pending, Queued, Running, no status yet       -> Progressing
-- Keep gitops/argocd/argocd-cm-patch.yaml in sync (tests/gitops/test_argocd_health.py checks).
local hs = {}

local function condition(status, ctype)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.reason or fallback
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the stjob operator"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the stjob operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status, "Stalled")
if status.phase == "Failed" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  hs.message = describe(condition(status, "Failed") or stalled, "Failed")
  return hs
end

if status.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = "Succeeded"
  if status.output ~= nil and status.output.hubUrl ~= nil then
    hs.message = "Succeeded: " .. status.output.hubUrl
  elseif status.output ~= nil and status.output.modelPath ~= nil then
    hs.message = "Succeeded: " .. status.output.modelPath
  end
  return hs
end

if status.phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = "Suspended (spec.suspend: true)"
  return hs
end

if status.phase == "Pending" or status.phase == "Queued" or status.phase == "Running" then
  hs.status = "Progressing"
  hs.message = status.phase
  if status.phase == "Running" and status.progress ~= nil and status.progress.percent ~= nil then
    hs.message = "Running: " .. tostring(status.progress.percent) .. "%"
  elseif status.phase ~= "Running" then
    hs.message = describe(condition(status, "Ready"), status.phase)
  end
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(status.phase)
return hs
