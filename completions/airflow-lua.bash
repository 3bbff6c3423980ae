# bash completion for airflow-lua: eval "$(airflow-lua completion bash)"
_airflow_lua_complete() {
  local IFS=$'\n' out
  out=$(AIRFLOW_LUA_COMPLETE_LINE="${COMP_LINE:0:COMP_POINT}" "${COMP_WORDS[0]}" __complete 2>/dev/null) || return 0
  COMPREPLY=($out)
  local c
  for c in "${COMPREPLY[@]}"; do
    if [[ $c == *= ]]; then compopt -o nospace 2>/dev/null; break; fi
  done
}
complete -o default -F _airflow_lua_complete airflow-lua
