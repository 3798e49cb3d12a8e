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
	"time"

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
	// ConnectTimeout bounds a connection's dial and TLS handshake;
	// CallTimeout one attempt of one AWS call (plus a receive's long
	// poll); Timeout the whole command (0: none).
	ConnectTimeout time.Duration
	CallTimeout    time.Duration
	Timeout        time.Duration

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
	ConnectTimeout string   `mapstructure:"connectTimeout"`
	CallTimeout    string   `mapstructure:"callTimeout"`
	Timeout        string   `mapstructure:"timeout"`
}

// contextKeys are the keys a context may have, as viper spells them
// (lowercased): any other key is a typo that would be ignored.
var contextKeys = []string{"profile", "region", "endpointurl", "queueprefix", "loggroups", "loggroupprefix", "connecttimeout", "calltimeout", "timeout"}

// Global flag names, shared by the root command and settings resolution.
const (
	FlagProfile        = "profile"
	FlagRegion         = "region"
	FlagEndpointURL    = "endpoint-url"
	FlagContext        = "context"
	FlagOutput         = "output"
	FlagNoColor        = "no-color"
	FlagVerbose        = "verbose"
	FlagConfig         = "config"
	FlagConnectTimeout = "connect-timeout"
	FlagCallTimeout    = "call-timeout"
	FlagTimeout        = "timeout"
)

// Default timeouts: a black-holed endpoint fails a call after
// DefaultCallTimeout per attempt, three attempts (the SDK's retryer).
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultCallTimeout    = 10 * time.Second
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
	fs.Duration(FlagConnectTimeout, DefaultConnectTimeout, "give up connecting to an endpoint after `DURATION`")
	fs.Duration(FlagCallTimeout, DefaultCallTimeout, "give up one attempt of an AWS call after `DURATION` (receives: the scan's own bound)")
	fs.Duration(FlagTimeout, 0, "stop the whole command after `DURATION` (0: no limit)")
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

// bindSettings binds the global flags and their DLQ_* variables into a
// viper; explicit says which were given (a context's value does not
// override those).
func bindSettings(fs *pflag.FlagSet, env render.Env) (*viper.Viper, map[string]bool, error) {
	v := viper.New()
	explicit := map[string]bool{}
	for _, name := range []string{FlagProfile, FlagRegion, FlagEndpointURL, FlagContext, FlagOutput, FlagNoColor, FlagVerbose, FlagConfig, FlagConnectTimeout, FlagCallTimeout, FlagTimeout} {
		if f := fs.Lookup(name); f != nil {
			if err := v.BindPFlag(name, f); err != nil {
				return nil, nil, fmt.Errorf("bind flag %s: %w", name, err)
			}
			explicit[name] = f.Changed
		}
		// Bound explicitly rather than AutomaticEnv so the lookup goes
		// through env, which tests control.
		envName := "DLQ_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if val, ok := env(envName); ok {
			v.SetDefault(name, val)
			explicit[name] = explicit[name] || val != ""
		}
	}
	return v, explicit, nil
}

// globalSettings reads the global flags (and variables) from v.
func globalSettings(v *viper.Viper) (Settings, error) {
	s := Settings{
		Profile:     v.GetString(FlagProfile),
		Region:      v.GetString(FlagRegion),
		EndpointURL: v.GetString(FlagEndpointURL),
		Context:     v.GetString(FlagContext),
		ConfigFile:  v.GetString(FlagConfig),
	}
	var err error
	if s.NoColor, err = parseBool(v.GetString(FlagNoColor), "NO_COLOR"); err != nil {
		return Settings{}, err
	}
	if s.Verbose, err = parseBool(v.GetString(FlagVerbose), "VERBOSE"); err != nil {
		return Settings{}, err
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{FlagConnectTimeout, &s.ConnectTimeout}, {FlagCallTimeout, &s.CallTimeout}, {FlagTimeout, &s.Timeout}} {
		if *d.to, err = parseDuration(v.GetString(d.name), "--"+d.name); err != nil {
			return Settings{}, err
		}
	}
	out, err := render.ParseFormat(v.GetString(FlagOutput))
	if err != nil {
		return Settings{}, &UsageError{Err: err}
	}
	s.Output = out
	return s, nil
}

// ResolveSettings reads the parsed global flags, DLQ_ variables and the
// config file into Settings. A missing default config file is not an error;
// a missing file named by --config, an unknown context or an invalid
// --output are usage errors.
func ResolveSettings(fs *pflag.FlagSet, env render.Env) (Settings, error) {
	v, explicit, err := bindSettings(fs, env)
	if err != nil {
		return Settings{}, err
	}
	s, err := globalSettings(v)
	if err != nil {
		return Settings{}, err
	}
	explicitConfig := s.ConfigFile != ""
	if !explicitConfig {
		s.ConfigFile = DefaultConfigPath(env)
	}
	file, found, err := readConfigFile(s.ConfigFile, explicitConfig)
	if err != nil {
		return Settings{}, err
	}
	if s.Context == "" {
		s.Context = file.CurrentContext
	}
	if s.Context == "" {
		return s, nil
	}
	if !found {
		return Settings{}, Usagef("context %q: there is no config file at %s (see docs/configuration.md)", s.Context, orDefault(s.ConfigFile, "$XDG_CONFIG_HOME/dlq/config.yaml"))
	}
	ctxCfg, ok := lookupContext(file.Contexts, s.Context)
	if !ok {
		return Settings{}, Usagef("unknown context %q in %s (known: %s)", s.Context, s.ConfigFile, strings.Join(contextNames(file.Contexts), ", "))
	}
	for _, d := range []struct {
		name, value string
		to          *time.Duration
	}{{FlagConnectTimeout, ctxCfg.ConnectTimeout, &s.ConnectTimeout}, {FlagCallTimeout, ctxCfg.CallTimeout, &s.CallTimeout}, {FlagTimeout, ctxCfg.Timeout, &s.Timeout}} {
		if d.value == "" || explicit[d.name] {
			continue
		}
		if *d.to, err = parseDuration(d.value, fmt.Sprintf("%s of context %s in %s", d.name, s.Context, s.ConfigFile)); err != nil {
			return Settings{}, err
		}
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

// readConfigFile reads the config file; found is false when there is
// none (an error only when the user named it).
func readConfigFile(path string, required bool) (cf configFile, found bool, err error) {
	if path == "" {
		return cf, false, nil
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		// The default path may sit under a file rather than a directory
		// (ENOTDIR): that is "no config file" too.
		if !required && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			return cf, false, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return cf, false, Usagef("read config %s: file does not exist", path)
		}
		return cf, false, Usagef("read config %s: %v", path, err)
	}
	// A misspelt key (regoin:) would be ignored, and the command would run
	// against the wrong region: refuse it.
	for _, k := range v.AllKeys() {
		if !knownConfigKey(k) {
			return cf, true, Usagef("config %s: unknown key %q (a context has: %s)", path, k, strings.Join(contextKeys, ", "))
		}
	}
	if err := v.Unmarshal(&cf); err != nil {
		return cf, true, Usagef("parse config %s: %v", path, err)
	}
	return cf, true, nil
}

// knownConfigKey reports whether a (lowercased, dotted) key of the config
// file is one dlq reads.
func knownConfigKey(k string) bool {
	if k == "currentcontext" {
		return true
	}
	parts := strings.Split(k, ".")
	if len(parts) != 3 || parts[0] != "contexts" {
		return false
	}
	for _, c := range contextKeys {
		if parts[2] == c {
			return true
		}
	}
	return false
}

// parseBool reads a boolean setting the way people write them in the
// environment: 1/0, true/false, yes/no, on/off; anything else is a usage
// error rather than a silent false.
func parseBool(v, name string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off", "f", "n":
		return false, nil
	case "1", "true", "yes", "on", "t", "y":
		return true, nil
	}
	return false, Usagef("DLQ_%s=%q: want true or false (1/0, yes/no, on/off)", name, v)
}

// parseDuration reads a timeout; "0" or "" is none.
func parseDuration(v, what string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, Usagef("%s: %q is not a duration such as 30s or 5m", what, v)
	}
	return d, nil
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
