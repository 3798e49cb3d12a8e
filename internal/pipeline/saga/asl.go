package saga

import (
	"encoding/json"
	"strings"
	"unicode"
)

// StateMachine exports the definition as Amazon States Language: a Task
// per step with Retry, and a Catch from each step into the compensation
// chain of the steps before it, in reverse order. Task resources are
// placeholders "${<State>FunctionArn}" for DefinitionSubstitutions; each
// task passes {saga, step, action: do|compensate, input} so one function
// can serve every state.
func StateMachine(def Definition) ([]byte, error) {
	retry := def.ActionRetry.withDefaults()
	comp := def.Compensation.withDefaults()
	states := map[string]any{}
	names := make([]string, len(def.Steps))
	for i, s := range def.Steps {
		names[i] = stateName(s.Name)
	}
	// compensationEntry[i] is where a failure of step i goes: the
	// compensation of the nearest earlier step that has one.
	compensationEntry := func(i int) string {
		for j := i - 1; j >= 0; j-- {
			if def.Steps[j].Compensate != nil {
				return "Compensate" + names[j]
			}
		}
		return "SagaFailed"
	}
	for i, s := range def.Steps {
		next := "SagaSucceeded"
		if i+1 < len(def.Steps) {
			next = names[i+1]
		}
		states[names[i]] = map[string]any{
			"Type":       "Task",
			"Resource":   "${" + names[i] + "FunctionArn}",
			"Parameters": map[string]any{"saga": def.Name, "step": s.Name, "action": "do", "input.$": "$"},
			"ResultPath": "$.results." + names[i],
			"Retry": []any{map[string]any{
				"ErrorEquals":     []string{"States.TaskFailed", "Lambda.ServiceException", "Lambda.TooManyRequestsException"},
				"IntervalSeconds": max(1, int(retry.Initial.Seconds())),
				"MaxAttempts":     retry.MaxAttempts,
				"BackoffRate":     2,
			}},
			"Catch": []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.error", "Next": compensationEntry(i)}},
			"Next":  next,
		}
		if s.Compensate != nil {
			cname := "Compensate" + names[i]
			states[cname] = map[string]any{
				"Type":       "Task",
				"Resource":   "${" + cname + "FunctionArn}",
				"Parameters": map[string]any{"saga": def.Name, "step": s.Name, "action": "compensate", "input.$": "$"},
				"ResultPath": nil,
				"Retry": []any{map[string]any{
					"ErrorEquals":     []string{"States.ALL"},
					"IntervalSeconds": max(1, int(comp.Initial.Seconds())),
					"MaxAttempts":     comp.MaxAttempts,
					"BackoffRate":     2,
				}},
				"Catch": []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.compensationError", "Next": "CompensationFailed"}},
				"Next":  compensationEntry(i),
			}
		}
	}
	states["SagaSucceeded"] = map[string]any{"Type": "Succeed"}
	states["SagaFailed"] = map[string]any{"Type": "Fail", "Error": "SagaFailed", "Cause": "A step failed; completed steps were compensated in reverse order."}
	states["CompensationFailed"] = map[string]any{"Type": "Fail", "Error": "CompensationFailed", "Cause": "A compensation kept failing; the saga needs a person."}
	doc := map[string]any{
		"Comment": "Saga " + def.Name + ": steps in order, compensations in reverse. Exported by dlq's saga package.",
		"StartAt": names[0],
		"States":  states,
	}
	return json.MarshalIndent(doc, "", "  ")
}

// stateName turns "reserve-inventory" into "ReserveInventory".
func stateName(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
