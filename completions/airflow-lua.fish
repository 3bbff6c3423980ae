# fish completion for airflow-lua: airflow-lua completion fish | source
function __airflow_lua_complete
    set -l cmd (commandline -opc)[1]
    set -l pre (string match -r -- '^(?:--)?[A-Za-z_][A-Za-z0-9_-]*=' (commandline -ct))
    set -q pre[1]; or set pre ''
    for c in (env AIRFLOW_LUA_COMPLETE_LINE=(commandline -cp) $cmd __complete 2>/dev/null)
        echo $pre$c
    end
end
complete -c airflow-lua -f -a '(__airflow_lua_complete)'
