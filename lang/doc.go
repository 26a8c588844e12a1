// Package lang is loom's composition language: its lexer, parser, syntax
// tree and printer. The language is rc's, made small, with three forms
// for composing systems: system NAME { ... }, sandbox NAME { ... } and
// clone SRC as NEW [in SANDBOX]. One language serves scripts, the
// interactive shell and the lines written to ctl files.
//
// The grammar, informally (newlines end statements, as ; does):
//
//	file     = { stmt ( ";" | "&" | newline ) }
//	stmt     = pipeline { ( "&&" | "||" ) pipeline }
//	pipeline = [ "!" ] command { "|" ["[" fd "]"] command }
//	command  = simple | "{" file "}" { redirect }
//	         | "if(" file ")" stmt | "if not" stmt
//	         | "for(" name [ "in" { word } ] ")" stmt | "while(" file ")" stmt
//	         | "switch(" word ")" "{" { "case" { word } file } "}"
//	         | "fn" word [ "{" file "}" ] | "." word { word }
//	         | "system" word "{" file "}"
//	         | "sandbox" word "{" { rule } "}"
//	         | "clone" word "as" word [ "in" word ]
//	simple   = { name "=" word } word { word | redirect }
//	redirect = ( "<" | ">" | ">>" ) [ "[" fd "]" ] word | ">[" fd "=" fd "]"
//	word     = part { ["^"] part }
//	part     = literal | "'" quoted "'" | "$" name [ "(" { word } ")" ]
//	         | "$#" name | "$\"" name | "`{" file "}" | "(" { word } ")"
//	rule     = ( "allow" | "readonly" | "devices" | "network" | "limit" ) { word }
//
// Keywords are keywords only where a command starts, and only unquoted.
// A # starts a comment where a word could start. Quoting is rc's: '...'
// with a quote inside written twice; nothing else quotes.
//
// The parser imports nothing of the operating system; package
// loom/lang/interp runs what it parses.
package lang
