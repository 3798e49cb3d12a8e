package render

import "github.com/charmbracelet/lipgloss"

// Styles are the few text styles dlq uses. Colour never carries meaning
// alone: every styled word is also a word.
type Styles struct {
	Header  lipgloss.Style
	OK      lipgloss.Style
	Warning lipgloss.Style
	Error   lipgloss.Style
	Muted   lipgloss.Style
	Bold    lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) Styles {
	return Styles{
		Header:  r.NewStyle().Bold(true),
		OK:      r.NewStyle().Foreground(lipgloss.Color("2")),
		Warning: r.NewStyle().Foreground(lipgloss.Color("3")),
		Error:   r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		Muted:   r.NewStyle().Foreground(lipgloss.Color("8")),
		Bold:    r.NewStyle().Bold(true),
	}
}
