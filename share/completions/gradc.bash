# bash completion for gradc. Subcommands and flags are read from `gradc --help` and
# `gradc SUBCOMMAND --help` when completing, so they never fall behind the program.
_gradc() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} sub="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in -*) ;; *) sub=${COMP_WORDS[i]}; break ;; esac
  done
  if [[ -z $sub ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
    else
      local subs
      subs=$("${COMP_WORDS[0]}" --help 2>/dev/null | sed -n '/^Subcommands:/,$ s/^  \([a-z][a-z-]*\) .*/\1/p')
      COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    fi
    return
  fi
  local help
  help=$("${COMP_WORDS[0]}" "$sub" --help 2>/dev/null)
  if [[ $cur == -* ]]; then
    # "  -o,--out TEXT   ..." -> -o --out
    local flags
    flags=$(printf '%s\n' "$help" | sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' ' ')
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  # A flag that takes a value (`--x TEXT`): complete file names; the first positional: .grad files.
  if [[ $prev == -* ]] && printf '%s\n' "$help" | grep -Eq "^  (-[^ ]*,)?$prev [A-Z]"; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -f -X '!*.grad' -- "$cur") $(compgen -d -- "$cur"))
  fi
}
complete -o filenames -F _gradc gradc
