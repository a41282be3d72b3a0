package onvif

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

const actionGetEventProperties = nsEvents + "/EventPortType/GetEventPropertiesRequest"

// EventTopic is one topic a camera says it can send.
type EventTopic struct {
	// Topic is normalised like Event.Topic.
	Topic string
	// DataItems are the names of the topic's Data SimpleItems.
	DataItems []string
	// Kind is what Classify makes of the topic; empty when nothing.
	Kind Kind
}

type getEventPropertiesRequest struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/events/wsdl GetEventProperties"`
}

// EventTopics lists the topics in the camera's GetEventProperties topic
// set, so the agent can offer only the event kinds the camera has. A camera
// without an events service gives ErrUnsupported.
func (c *Client) EventTopics(ctx context.Context) ([]EventTopic, error) {
	const op = "get event properties"
	addr, err := c.endpoint(eventsAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r topicSetResponse
	if err := c.call(ctx, op, addr, actionGetEventProperties, getEventPropertiesRequest{}, true,
		"GetEventPropertiesResponse", &r); err != nil {
		return nil, err
	}
	return r.topics, nil
}

// topicSetResponse decodes GetEventPropertiesResponse, walking its TopicSet
// tree: element names are topic path segments, and a MessageDescription
// marks a topic that is sent.
type topicSetResponse struct {
	topics []EventTopic
}

// Limits against hostile responses.
const (
	maxTopicDepth = 16
	maxTopics     = 1000
)

// UnmarshalXML implements xml.Unmarshaler.
func (r *topicSetResponse) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var path []string // element names below TopicSet
	inSet := false
	depth := 0
	seen := make(map[string]int)
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case !inSet && depth == 1 && t.Name.Local == "TopicSet":
				inSet = true
			case !inSet:
				if err := d.Skip(); err != nil {
					return err
				}
				depth--
			case t.Name.Local == "MessageDescription":
				items, err := dataItems(d, t)
				if err != nil {
					return err
				}
				depth--
				topic := strings.Join(path, "/")
				if topic == "" {
					continue
				}
				if i, ok := seen[topic]; ok {
					r.topics[i].DataItems = appendNew(r.topics[i].DataItems, items...)
					continue
				}
				if len(r.topics) >= maxTopics {
					return errors.New("too many topics")
				}
				seen[topic] = len(r.topics)
				r.topics = append(r.topics, EventTopic{Topic: topic, DataItems: items})
			default:
				if len(path) >= maxTopicDepth {
					return errors.New("topic set too deep")
				}
				path = append(path, t.Name.Local)
			}
		case xml.EndElement:
			depth--
			switch {
			case depth < 0:
				// End of GetEventPropertiesResponse.
				for i := range r.topics {
					r.topics[i].Kind = classifyTopic(TopicRules, r.topics[i])
				}
				sort.Slice(r.topics, func(i, j int) bool { return r.topics[i].Topic < r.topics[j].Topic })
				return nil
			case inSet && depth == 0:
				inSet = false
			case inSet && len(path) > 0:
				path = path[:len(path)-1]
			}
		}
	}
}

// dataItems reads a MessageDescription and returns its Data item names.
func dataItems(d *xml.Decoder, start xml.StartElement) ([]string, error) {
	var md struct {
		Data []struct {
			Name string `xml:"Name,attr"`
		} `xml:"Data>SimpleItemDescription"`
	}
	if err := d.DecodeElement(&md, &start); err != nil {
		return nil, err
	}
	var out []string
	for _, it := range md.Data {
		if n := strings.TrimSpace(it.Name); n != "" {
			out = appendNew(out, n)
		}
	}
	return out, nil
}

// classifyTopic returns the Kind of the first rule matching the topic whose
// item the topic carries (or that takes any item).
func classifyTopic(rules []TopicRule, t EventTopic) Kind {
	for _, r := range rules {
		if !r.matches(t.Topic) {
			continue
		}
		if r.Item == "" {
			return r.Kind
		}
		for _, it := range t.DataItems {
			if strings.EqualFold(it, r.Item) {
				return r.Kind
			}
		}
	}
	return ""
}
