// Package domain is the shared vocabulary of Qingliu's stages: readings, quality
// flags, media and the unified warning level. It imports only the standard
// library so that every stage can depend on it without depending on each other.
package domain
