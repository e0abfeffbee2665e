" gradc source files
autocmd BufRead,BufNewFile *.grad setfiletype grad
