//! The `dns` probe's messages: one query built with hickory's wire types, the check that a
//! datagram (or TCP frame) is the reply to that query, and the reply's outcome.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

/// A standard query for `name` and `record`: random id, recursion desired, one question.
pub(crate) fn query(name: &Name, record: RecordType) -> Message {
    let mut m = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name.clone(), record));
    m
}

/// The query in wire format.
pub(crate) fn encode(query: &Message) -> Result<Vec<u8>, String> {
    query
        .to_vec()
        .map_err(|e| format!("cannot encode the query: {e}"))
}

/// The reply when `bytes` answers `query` (a response with its id and, when the server
/// repeats it, its question); `None` for anything else, e.g. a late reply to another query.
pub(crate) fn reply_to(bytes: &[u8], query: &Message) -> Option<Message> {
    let reply = Message::from_vec(bytes).ok()?;
    let ours = reply.metadata.id == query.metadata.id
        && reply.metadata.message_type == MessageType::Response
        && (reply.queries.is_empty() || reply.queries == query.queries);
    ours.then_some(reply)
}

/// The answers as text (`10.1.2.3`, `a.example.`), or the failure the reply reports.
pub(crate) fn answers(reply: &Message) -> Result<Vec<String>, String> {
    if reply.metadata.response_code != ResponseCode::NoError {
        return Err(format!("answer {:?}", reply.metadata.response_code));
    }
    Ok(reply.answers.iter().map(|r| r.data.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    use super::*;

    fn name() -> Name {
        Name::from_ascii("a.probe.test.").unwrap()
    }

    fn reply(query: &Message, code: ResponseCode) -> Message {
        let mut r = Message::response(query.metadata.id, OpCode::Query);
        r.metadata.response_code = code;
        r.add_queries(query.queries.clone());
        if code == ResponseCode::NoError {
            r.add_answer(Record::from_rdata(
                name(),
                30,
                RData::A(A(Ipv4Addr::new(10, 1, 2, 3))),
            ));
        }
        r
    }

    #[test]
    fn the_query_round_trips_through_the_wire_format() {
        let q = query(&name(), RecordType::AAAA);
        let back = Message::from_vec(&encode(&q).unwrap()).unwrap();
        assert_eq!(back.metadata.id, q.metadata.id);
        assert_eq!(back.metadata.message_type, MessageType::Query);
        assert!(back.metadata.recursion_desired);
        assert_eq!(back.queries.len(), 1);
        assert_eq!(back.queries[0].name(), &name());
        assert_eq!(back.queries[0].query_type(), RecordType::AAAA);
        assert!(back.answers.is_empty());
    }

    #[test]
    fn ids_are_random() {
        let ids: std::collections::BTreeSet<u16> = (0..20)
            .map(|_| query(&name(), RecordType::A).metadata.id)
            .collect();
        assert!(ids.len() > 1, "{ids:?}");
    }

    #[test]
    fn the_reply_gives_its_answers_as_text() {
        let q = query(&name(), RecordType::A);
        let wire = reply(&q, ResponseCode::NoError).to_vec().unwrap();
        let r = reply_to(&wire, &q).expect("our reply");
        assert_eq!(answers(&r).unwrap(), vec!["10.1.2.3".to_string()]);
    }

    #[test]
    fn a_reply_with_another_id_is_not_ours() {
        let q = query(&name(), RecordType::A);
        let mut other = reply(&q, ResponseCode::NoError);
        other.metadata.id = q.metadata.id.wrapping_add(1);
        assert!(reply_to(&other.to_vec().unwrap(), &q).is_none());
    }

    #[test]
    fn a_reply_to_another_question_is_not_ours() {
        let q = query(&name(), RecordType::A);
        let other_q = query(&name(), RecordType::TXT);
        let mut r = reply(&other_q, ResponseCode::NoError);
        r.metadata.id = q.metadata.id;
        assert!(reply_to(&r.to_vec().unwrap(), &q).is_none());
    }

    #[test]
    fn our_own_query_echoed_back_is_not_a_reply() {
        let q = query(&name(), RecordType::A);
        assert!(reply_to(&encode(&q).unwrap(), &q).is_none());
    }

    #[test]
    fn garbage_is_not_a_reply() {
        let q = query(&name(), RecordType::A);
        assert!(reply_to(&[1, 2, 3], &q).is_none());
        assert!(reply_to(&[], &q).is_none());
    }

    #[test]
    fn error_codes_fail_the_sample_in_short() {
        let q = query(&name(), RecordType::A);
        for (code, text) in [
            (ResponseCode::NXDomain, "answer NXDomain"),
            (ResponseCode::ServFail, "answer ServFail"),
            (ResponseCode::Refused, "answer Refused"),
        ] {
            let wire = reply(&q, code).to_vec().unwrap();
            let r = reply_to(&wire, &q).expect("our reply");
            assert_eq!(answers(&r).unwrap_err(), text);
        }
    }

    #[test]
    fn a_reply_without_the_question_is_still_ours() {
        let q = query(&name(), RecordType::A);
        let r = Message::error_msg(q.metadata.id, OpCode::Query, ResponseCode::FormErr);
        let r = reply_to(&r.to_vec().unwrap(), &q).expect("our reply");
        assert_eq!(answers(&r).unwrap_err(), "answer FormErr");
    }
}
