package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/dlqops/dlq/internal/render"
)

// Settings are the resolved global options: flag, then DLQ_ environment
// variable, then the selected context of the config file. AWS's own
// variables (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...) apply below all
// of these, through the SDK.
type Settings struct {
	Profile     string
	Region      string
	EndpointURL string
	Context     string
	Output      render.Format
	NoColor     bool
	Verbose     bool
	ConfigFile  string

	// From the context only.
	QueuePrefix    string
	LogGroups      []string
	LogGroupPrefix []string
}

// ContextConfig is one named block under `contexts:` in the config file.
type ContextConfig struct {
	Profile        string   `mapstructure:"profile"`
	Region         string   `mapstructure:"region"`
	EndpointURL    string   `mapstructure:"endpointUrl"`
	QueuePrefix    string   `mapstructure:"queuePrefix"`
	LogGroups      []string `mapstructure:"logGroups"`
	LogGroupPrefix []string `mapstructure:"logGroupPrefix"`
}

// Global flag names, shared by the root command and settings resolution.
const (
	FlagProfile     = "profile"
	FlagRegion      = "region"
	FlagEndpointURL = "endpoint-url"
	FlagContext     = "context"
	FlagOutput      = "output"
	FlagNoColor     = "no-color"
	FlagVerbose     = "verbose"
	FlagConfig      = "config"
)

// AddGlobalFlags declares the global flags on fs.
func AddGlobalFlags(fs *pflag.FlagSet) {
	fs.String(FlagProfile, "", "AWS shared config profile")
	fs.String(FlagRegion, "", "AWS region")
	fs.String(FlagEndpointURL, "", "AWS endpoint URL, e.g. a local emulator")
	fs.String(FlagContext, "", "named context from the config file")
	fs.StringP(FlagOutput, "o", "table", "output format: table, json or ndjson")
	fs.Bool(FlagNoColor, false, "disable colour")
	fs.BoolP(FlagVerbose, "v", false, "show full errors and log AWS requests to stderr")
	fs.String(FlagConfig, "", "config file (default $XDG_CONFIG_HOME/dlq/config.yaml)")
}

// DefaultConfigPath is $XDG_CONFIG_HOME/dlq/config.yaml, or
// ~/.config/dlq/config.yaml when XDG_CONFIG_HOME is unset.
func DefaultConfigPath(env render.Env) string {
	if dir, ok := env("XDG_CONFIG_HOME"); ok && dir != "" {
		return filepath.Join(dir, "dlq", "config.yaml")
	}
	if home, ok := env("HOME"); ok && home != "" {
		return filepath.Join(home, ".config", "dlq", "config.yaml")
	}
	return ""
}

// ResolveSettings reads the parsed global flags, DLQ_ variables and the
// config file into Settings. A missing default config file is not an error;
// a missing file named by --config, an unknown context or an invalid
// --output are usage errors.
func ResolveSettings(fs *pflag.FlagSet, env render.Env) (Settings, error) {
	v := viper.New()
	v.SetEnvPrefix("DLQ")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	for _, name := range []string{FlagProfile, FlagRegion, FlagEndpointURL, FlagContext, FlagOutput, FlagNoColor, FlagVerbose, FlagConfig} {
		if f := fs.Lookup(name); f != nil {
			if err := v.BindPFlag(name, f); err != nil {
				return Settings{}, fmt.Errorf("bind flag %s: %w", name, err)
			}
		}
		// Bound explicitly rather than AutomaticEnv so the lookup goes
		// through env, which tests control.
		envName := "DLQ_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if val, ok := env(envName); ok {
			v.SetDefault(name, val)
		}
	}

	s := Settings{
		Profile:     v.GetString(FlagProfile),
		Region:      v.GetString(FlagRegion),
		EndpointURL: v.GetString(FlagEndpointURL),
		Context:     v.GetString(FlagContext),
		NoColor:     v.GetBool(FlagNoColor),
		Verbose:     v.GetBool(FlagVerbose),
		ConfigFile:  v.GetString(FlagConfig),
	}
	out, err := render.ParseFormat(v.GetString(FlagOutput))
	if err != nil {
		return Settings{}, &UsageError{Err: err}
	}
	s.Output = out

	explicitConfig := s.ConfigFile != ""
	if !explicitConfig {
		s.ConfigFile = DefaultConfigPath(env)
	}
	file, err := readConfigFile(s.ConfigFile, explicitConfig)
	if err != nil {
		return Settings{}, err
	}
	if s.Context == "" {
		s.Context = file.CurrentContext
	}
	if s.Context == "" {
		return s, nil
	}
	ctxCfg, ok := lookupContext(file.Contexts, s.Context)
	if !ok {
		return Settings{}, Usagef("unknown context %q in %s (known: %s)", s.Context, s.ConfigFile, strings.Join(contextNames(file.Contexts), ", "))
	}
	s.Profile = firstNonEmpty(s.Profile, ctxCfg.Profile)
	s.Region = firstNonEmpty(s.Region, ctxCfg.Region)
	s.EndpointURL = firstNonEmpty(s.EndpointURL, ctxCfg.EndpointURL)
	s.QueuePrefix = ctxCfg.QueuePrefix
	s.LogGroups = ctxCfg.LogGroups
	s.LogGroupPrefix = ctxCfg.LogGroupPrefix
	return s, nil
}

// configFile is the shape of config.yaml.
type configFile struct {
	CurrentContext string                   `mapstructure:"currentContext"`
	Contexts       map[string]ContextConfig `mapstructure:"contexts"`
}

func readConfigFile(path string, required bool) (configFile, error) {
	var cf configFile
	if path == "" {
		return cf, nil
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		// The default path may sit under a file rather than a directory
		// (ENOTDIR): that is "no config file" too.
		if !required && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			return cf, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return cf, Usagef("read config %s: file does not exist", path)
		}
		return cf, Usagef("read config %s: %v", path, err)
	}
	if err := v.Unmarshal(&cf); err != nil {
		return cf, Usagef("parse config %s: %v", path, err)
	}
	return cf, nil
}

// lookupContext finds a context by name. Viper lowercases keys, so names
// match case-insensitively.
func lookupContext(m map[string]ContextConfig, name string) (ContextConfig, bool) {
	if c, ok := m[name]; ok {
		return c, true
	}
	c, ok := m[strings.ToLower(name)]
	return c, ok
}

func contextNames(m map[string]ContextConfig) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// OSEnv is os.LookupEnv as an Env.
func OSEnv(key string) (string, bool) { return os.LookupEnv(key) }
