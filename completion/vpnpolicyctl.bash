# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for vpnpolicyctl(8): its commands, their options, devices for --iif, files and
# directories where an option takes one.

_vpnpolicyctl() {
        local cur prev words cword
        _init_completion || return

        local verbs="status metrics reload openvpn-hook explain doctor teardown wait-ready"
        local global="--runtime-dir --json --help -h --version"
        local -A opts=(
                [status]="--json"
                [metrics]="--output"
                [reload]=""
                [openvpn-hook]="--strict --runtime-dir --timeout-ms"
                [explain]="--iif --config --json"
                [doctor]="--config --openvpn-config --openvpn-dir --assume-dco --iproute2-dir --json"
                [teardown]="--yes --iproute2-dir"
                [wait-ready]="--timeout"
        )

        case $prev in
        --runtime-dir | --iproute2-dir | --openvpn-dir)
                _filedir -d
                return
                ;;
        --config | --openvpn-config)
                _filedir conf
                return
                ;;
        --output)
                _filedir prom
                return
                ;;
        --iif)
                COMPREPLY=($(compgen -W "$(command ls /sys/class/net 2>/dev/null)" -- "$cur"))
                return
                ;;
        --timeout-ms | --timeout)
                return
                ;;
        esac

        # the command: the first word that is not an option or an option's argument
        local i verb=
        for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                --runtime-dir) ((i++)) ;;
                -*) ;;
                *)
                        verb=${words[i]}
                        break
                        ;;
                esac
        done

        if [[ -z $verb ]]; then
                if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "$global" -- "$cur"))
                else
                        COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
                fi
                return
        fi
        if [[ -v "opts[$verb]" && $cur == -* ]]; then
                COMPREPLY=($(compgen -W "${opts[$verb]}" -- "$cur"))
        fi
} && complete -F _vpnpolicyctl vpnpolicyctl
