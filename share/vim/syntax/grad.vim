" Vim syntax file for gradc's .grad language (see gradc's README, "Language reference" and
" "Tensor programs"). Installed by `cmake --install` into share/vim/vimfiles.
if exists("b:current_syntax")
  finish
endif

syn keyword gradKeyword fn at return const data param layer train
syn keyword gradBoolean true false
syn keyword gradConstant pi e
syn keyword gradFunction sin cos tan asin acos atan sinh cosh tanh exp log ln sqrt abs sigmoid relu softplus step sign pow min max mask
syn keyword gradFunction sum mean softmax log_softmax logsumexp onehot transpose csv
syn keyword gradLayer sequential linear
syn keyword gradLoss mse cross_entropy binary_cross_entropy accuracy
syn keyword gradInit zeros ones constant normal uniform he xavier
syn keyword gradOptimizer sgd adam exponential cosine
syn keyword gradSetting loss optimizer epochs batch seed metric log_every schedule shuffle lr momentum nesterov weight_decay beta1 beta2 eps features target classes axis min_lr gamma every all shape
syn match gradNumber "\<\d\+\(\.\d*\)\=\([eE][-+]\=\d\+\)\=\>"
syn match gradNumber "\.\d\+\([eE][-+]\=\d\+\)\=\>"
syn match gradOperator "[-+*/^@=]"
syn region gradString start=+"+ skip=+""+ end=+"+ oneline
syn match gradComment "#.*$" contains=@Spell

hi def link gradKeyword Keyword
hi def link gradBoolean Boolean
hi def link gradConstant Constant
hi def link gradFunction Function
hi def link gradLayer Function
hi def link gradLoss Function
hi def link gradInit Function
hi def link gradOptimizer Function
hi def link gradSetting Identifier
hi def link gradNumber Number
hi def link gradOperator Operator
hi def link gradString String
hi def link gradComment Comment

let b:current_syntax = "grad"
