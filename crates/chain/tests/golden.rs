//! Golden-byte tests written from `original-service.md` §10 and `solana.md` §3, not from the code under test.

use chain::error::ANCHOR_CONSTRAINT_SEEDS;
use chain::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const NOW: i64 = 0x7000_0000 - 7_200;

fn params() -> CreateEventParams {
    CreateEventParams {
        event_id: 0x0102_0304_0506_0708,
        name: "Jazz Night".into(),
        ticket_price: 1_500_000,
        total_tickets: 500,
        start_time: 0x7000_0000,
        end_time: 0x7000_0000 + 43_200,
        refund_window: 86_400,
        metadata_uri: "ipfs://abc".into(),
        oracle_feed: Pubkey::new_from_array([7; 32]),
        description: "Live".into(),
        transferable: true,
        resaleable: false,
        artist_wallet: Pubkey::new_from_array([9; 32]),
        artist_percentage: 500,
        venue_percentage: 250,
    }
}

#[test]
fn discriminators_are_sha256_prefixes_and_match_the_reference() {
    assert_eq!(Sha256::digest(b"global:create_event")[..8], CREATE_EVENT_DISCRIMINATOR);
    assert_eq!(CREATE_EVENT_DISCRIMINATOR, [49, 219, 29, 203, 22, 98, 100, 87]);
    assert_eq!(Sha256::digest(b"account:Event")[..8], EVENT_DISCRIMINATOR);
    assert_eq!(EVENT_DISCRIMINATOR, [125, 192, 125, 158, 9, 115, 152, 233]);
}

#[test]
fn instruction_data_is_byte_exact() {
    let mut expected: Vec<u8> = vec![49, 219, 29, 203, 22, 98, 100, 87]; // discriminator
    expected.extend([8, 7, 6, 5, 4, 3, 2, 1]); // 1 event_id u64 LE
    expected.extend([10, 0, 0, 0]); // 2 name: u32 LE length
    expected.extend(*b"Jazz Night");
    expected.extend([0x60, 0xE3, 0x16, 0, 0, 0, 0, 0]); // 3 ticket_price 1_500_000
    expected.extend([0xF4, 0x01, 0, 0]); // 4 total_tickets 500 u32
    expected.extend([0, 0, 0, 0x70, 0, 0, 0, 0]); // 5 start_time 0x7000_0000
    expected.extend([0xC0, 0xA8, 0, 0x70, 0, 0, 0, 0]); // 6 end_time +43_200
    expected.extend([0x80, 0x51, 0x01, 0, 0, 0, 0, 0]); // 7 refund_window 86_400
    expected.extend([10, 0, 0, 0]); // 8 metadata_uri
    expected.extend(*b"ipfs://abc");
    expected.extend([7; 32]); // 9 oracle_feed
    expected.extend([4, 0, 0, 0]); // 10 description
    expected.extend(*b"Live");
    expected.extend([1, 0]); // 11-12 transferable, resaleable
    expected.extend([9; 32]); // 13 artist_wallet
    expected.extend([0xF4, 0x01, 0xFA, 0x00]); // 14-15 artist 500 bps, venue 250 bps
    assert_eq!(expected.len(), 158);
    assert_eq!(params().instruction_data(), expected);
}

#[test]
fn empty_strings_encode_as_zero_length() {
    let p = CreateEventParams { description: String::new(), ..params() };
    let data = p.instruction_data();
    assert_eq!(data.len(), 154);
    // description length prefix sits after 8+8+14+8+4+24+14+32 bytes.
    assert_eq!(data[112..116], [0, 0, 0, 0]);
    assert_eq!(data[116..118], [1, 0]);
}

#[test]
fn program_id_parses() {
    assert_eq!(PROGRAM_ID, "BnYanHjkV6bBDFYfC7F76TyYk6NA9p3wvcAfY1XZCXYS");
    assert_eq!(program_id().to_string(), PROGRAM_ID);
    assert_eq!(SYSTEM_PROGRAM_ID, Pubkey::default());
    assert_eq!(SYSTEM_PROGRAM_ID.to_string(), "11111111111111111111111111111111");
}

#[test]
fn account_list_order_and_flags() {
    let pid = program_id();
    let authority = Pubkey::new_from_array([1; 32]);
    let (venue, _) = venue_pda(&pid, &[2; 32]);
    let ix = create_event_instruction(&pid, &authority, &venue, &params());
    assert_eq!(ix.program_id, pid);
    assert_eq!(ix.data, params().instruction_data());

    let (event, event_bump) = event_pda(&pid, &venue, 0x0102_0304_0506_0708);
    let (guard, _) = reentrancy_guard_pda(&pid, &event);
    let flags: Vec<_> = ix.accounts.iter().map(|a| (a.pubkey, a.is_signer, a.is_writable)).collect();
    assert_eq!(
        flags,
        vec![
            (authority, true, true),           // 1 authority: signer, writable, payer
            (venue, false, true),              // 2 venue
            (event, false, true),              // 3 event (init)
            (guard, false, true),              // 4 reentrancy_guard (init)
            (Pubkey::default(), false, false), // 5 system_program
        ]
    );
    // The event PDA is built from exactly [b"event", venue, event_id LE] plus its bump.
    let seeds: [&[u8]; 4] = [b"event", venue.as_ref(), &[8, 7, 6, 5, 4, 3, 2, 1], &[event_bump]];
    assert_eq!(Pubkey::create_program_address(&seeds, &pid), Ok(event));
}

#[test]
fn seeds_fit_are_deterministic_and_tenant_bound() {
    let pid = program_id();
    let tenant_a = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
    let tenant_b = Uuid::parse_str("ffeeddcc-bbaa-9988-7766-554433221100").unwrap();
    let venue_id = Uuid::parse_str("0f0e0d0c-0b0a-0908-0706-050403020100").unwrap();

    let seed = venue_seed(&tenant_a, &venue_id);
    let mut expected = [0u8; 32];
    expected[..16].copy_from_slice(&[
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    ]);
    expected[16..].copy_from_slice(&[15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(seed, expected);

    let (venue, venue_bump) = venue_pda(&pid, &seed);
    assert_eq!(venue_pda(&pid, &venue_seed(&tenant_a, &venue_id)), (venue, venue_bump));
    assert_eq!(Pubkey::create_program_address(&[b"venue", &seed, &[venue_bump]], &pid), Ok(venue));

    let (event, _) = event_pda(&pid, &venue, 42);
    let (guard, guard_bump) = reentrancy_guard_pda(&pid, &event);
    assert_eq!(event_pda(&pid, &venue, 42).0, event);
    assert_ne!(event_pda(&pid, &venue, 43).0, event);
    assert_eq!(Pubkey::create_program_address(&[b"reentrancy", event.as_ref(), &[guard_bump]], &pid), Ok(guard));

    // Every seed is at most 32 bytes.
    for s in [&b"venue"[..], &seed, b"event", venue.as_ref(), &42u64.to_le_bytes(), b"reentrancy", event.as_ref()] {
        assert!(s.len() <= 32, "seed of {} bytes", s.len());
    }

    // Same venue id under another tenant: another seed, another venue PDA, another event PDA.
    let (venue_b, _) = venue_pda(&pid, &venue_seed(&tenant_b, &venue_id));
    assert_ne!(venue_b, venue);
    assert_ne!(event_pda(&pid, &venue_b, 42).0, event);
}

#[test]
fn uuid_string_cannot_be_a_seed() {
    // The original used the 36-char hyphenated UUID string as the venue seed: over the 32-byte limit.
    let pid = program_id();
    let as_string = "0f0e0d0c-0b0a-0908-0706-050403020100";
    assert_eq!(as_string.len(), 36);
    assert!(Pubkey::create_program_address(&[b"venue", as_string.as_bytes(), &[255]], &pid).is_err());
    assert_eq!(Pubkey::try_find_program_address(&[b"venue", as_string.as_bytes()], &pid), None);
    // Its 16 raw bytes (and the 32-byte tenant-bound seed) are accepted.
    let id = Uuid::parse_str(as_string).unwrap();
    assert!(Pubkey::try_find_program_address(&[b"venue", id.as_bytes()], &pid).is_some());
    assert!(Pubkey::try_find_program_address(&[b"venue", &venue_seed(&id, &id)], &pid).is_some());
}

fn codes(p: &CreateEventParams) -> Vec<u32> {
    p.validate(NOW).err().unwrap_or_default().iter().map(|e| e.code().code()).collect()
}

#[test]
fn validation_accepts_the_fixture_and_boundaries() {
    assert_eq!(params().validate(NOW), Ok(()));
    let edge = CreateEventParams {
        name: "A".repeat(32),
        ticket_price: 100_000,
        total_tickets: 16_384,
        start_time: NOW + 3_601,
        end_time: NOW + 3_601 + 365 * 86_400,
        refund_window: 172_800,
        metadata_uri: "u".repeat(64),
        description: "d".repeat(200),
        artist_percentage: 10_000,
        venue_percentage: 0,
        ..params()
    };
    assert_eq!(edge.validate(NOW), Ok(()));
    let edge = CreateEventParams { ticket_price: 1_000_000_000_000, total_tickets: 1, refund_window: 0, ..edge };
    assert_eq!(edge.validate(NOW), Ok(()));
}

#[test]
fn each_validation_rule_maps_to_its_program_code() {
    let p = params;
    assert_eq!(codes(&CreateEventParams { name: "Jazz\tNight".into(), ..p() }), [6031]);
    assert_eq!(codes(&CreateEventParams { name: "Café".into(), ..p() }), [6031]);
    assert_eq!(codes(&CreateEventParams { name: "A".repeat(33), ..p() }), [6031]);
    assert_eq!(codes(&CreateEventParams { ticket_price: 99_999, ..p() }), [6025]);
    assert_eq!(codes(&CreateEventParams { ticket_price: 0, ..p() }), [6025]);
    assert_eq!(codes(&CreateEventParams { ticket_price: 1_000_000_000_001, ..p() }), [6026]);
    assert_eq!(codes(&CreateEventParams { total_tickets: 0, ..p() }), [6015]);
    assert_eq!(codes(&CreateEventParams { total_tickets: 16_385, ..p() }), [6015]);
    let start = NOW + 3_600;
    assert_eq!(codes(&CreateEventParams { start_time: start, end_time: start + 60, ..p() }), [6019]);
    assert_eq!(codes(&CreateEventParams { end_time: 0x7000_0000, ..p() }), [6020]);
    assert_eq!(codes(&CreateEventParams { end_time: 0x7000_0000 - 1, ..p() }), [6020]);
    assert_eq!(codes(&CreateEventParams { end_time: 0x7000_0000 + 365 * 86_400 + 1, ..p() }), [6021]);
    assert_eq!(codes(&CreateEventParams { refund_window: 172_801, ..p() }), [6032]);
    assert_eq!(codes(&CreateEventParams { refund_window: -1, ..p() }), [6032]);
    assert_eq!(codes(&CreateEventParams { metadata_uri: "u".repeat(65), ..p() }), [6031]);
    assert_eq!(codes(&CreateEventParams { description: "d".repeat(201), ..p() }), [6031]);
    assert_eq!(codes(&CreateEventParams { artist_percentage: 9_000, venue_percentage: 1_001, ..p() }), [6034]);
    assert_eq!(codes(&CreateEventParams { artist_percentage: u16::MAX, venue_percentage: u16::MAX, ..p() }), [6034]);
}

#[test]
fn validation_reports_every_error() {
    let bad = CreateEventParams { ticket_price: 0, total_tickets: 0, refund_window: 999_999, ..params() };
    let errors = bad.validate(NOW).unwrap_err();
    assert_eq!(
        errors,
        [ParamError::PriceTooLow(0), ParamError::InvalidCapacity(0), ParamError::RefundWindowTooLong(999_999)]
    );
}

#[test]
fn custom_error_classification() {
    assert_eq!(classify_instruction_error(0), ChainError::AlreadyInUse);
    assert!(!ChainError::AlreadyInUse.is_permanent());
    assert_eq!(classify_instruction_error(2006), ChainError::ConstraintSeeds);
    assert_eq!(ANCHOR_CONSTRAINT_SEEDS, 2006);
    let known = [6010, 6011, 6013, 6015, 6019, 6020, 6021, 6025, 6026, 6031, 6032, 6034];
    for code in known {
        let e = classify_instruction_error(code);
        assert!(matches!(e, ChainError::Program(c) if c.code() == code), "{code}");
        assert!(e.is_permanent());
        assert_eq!(e.code(), code);
    }
    assert_eq!(classify_instruction_error(6025), ChainError::Program(ProgramErrorCode::PriceTooLow));
    for other in [100, 101, 102, 3001, 6000, 6999] {
        assert_eq!(classify_instruction_error(other), ChainError::Other(other));
        assert!(classify_instruction_error(other).is_permanent());
    }
    assert!(classify_instruction_error(2006).is_permanent());
}

/// The account image placed byte by byte at the §10 offsets.
fn hand_placed_account() -> Vec<u8> {
    let mut d = vec![0u8; 499];
    d[0..8].copy_from_slice(&[125, 192, 125, 158, 9, 115, 152, 233]);
    d[8..40].copy_from_slice(&[3; 32]); // venue
    d[40..48].copy_from_slice(&[8, 7, 6, 5, 4, 3, 2, 1]); // event_id
    d[48..58].copy_from_slice(b"Jazz Night"); // name[32], zero-padded
    d[80..88].copy_from_slice(&[0x60, 0xE3, 0x16, 0, 0, 0, 0, 0]); // ticket_price
    d[88..92].copy_from_slice(&[0xF4, 0x01, 0, 0]); // total_tickets
    d[92..96].copy_from_slice(&[5, 0, 0, 0]); // tickets_sold
    d[96..100].copy_from_slice(&[2, 0, 0, 0]); // tickets_reserved
    d[100..108].copy_from_slice(&[0, 0, 0, 0x70, 0, 0, 0, 0]); // start
    d[108..116].copy_from_slice(&[0xC0, 0xA8, 0, 0x70, 0, 0, 0, 0]); // end
    d[116..124].copy_from_slice(&[0x80, 0x51, 0x01, 0, 0, 0, 0, 0]); // refund_window
    d[124..134].copy_from_slice(b"ipfs://abc"); // metadata_uri[64]
    d[188..220].copy_from_slice(&[7; 32]); // oracle_feed
    d[220..224].copy_from_slice(b"Live"); // description[200]
    d[420] = 1; // transferable
    d[421] = 0; // resaleable
    // 422..454 merkle_tree stays default
    d[454..486].copy_from_slice(&[9; 32]); // artist_wallet
    d[486..488].copy_from_slice(&[0xF4, 0x01]); // artist %
    d[488..490].copy_from_slice(&[0xFA, 0x00]); // venue %
    d[490] = 254; // bump
    d
}

#[test]
fn decode_reads_the_reference_offsets() {
    let data = hand_placed_account();
    let acc = decode_event_account(&data).unwrap();
    assert_eq!(acc.venue, Pubkey::new_from_array([3; 32]));
    assert_eq!(acc.event_id, 0x0102_0304_0506_0708);
    assert_eq!(trim_padding(&acc.name), b"Jazz Night");
    assert_eq!((acc.ticket_price, acc.total_tickets), (1_500_000, 500));
    assert_eq!((acc.tickets_sold, acc.tickets_reserved), (5, 2));
    assert_eq!((acc.start_time, acc.end_time, acc.refund_window), (0x7000_0000, 0x7000_0000 + 43_200, 86_400));
    assert_eq!(trim_padding(&acc.metadata_uri), b"ipfs://abc");
    assert_eq!(acc.oracle_feed, Pubkey::new_from_array([7; 32]));
    assert_eq!(trim_padding(&acc.description), b"Live");
    assert_eq!((acc.transferable, acc.resaleable), (true, false));
    assert_eq!(acc.merkle_tree, Pubkey::default());
    assert_eq!(acc.artist_wallet, Pubkey::new_from_array([9; 32]));
    assert_eq!((acc.artist_percentage, acc.venue_percentage, acc.bump), (500, 250, 254));
    // encode writes exactly the same image, unused tail 491..499 included.
    assert_eq!(encode_event_account(&acc), data);
    assert_eq!(EVENT_ACCOUNT_SIZE, 499);
}

#[test]
fn roundtrip_and_errors() {
    let venue = Pubkey::new_from_array([3; 32]);
    let mut acc = EventAccount::from_params(&params(), &venue, 254).unwrap();
    acc.tickets_sold = 5;
    acc.tickets_reserved = 2;
    let bytes = encode_event_account(&acc);
    assert_eq!(bytes, hand_placed_account());
    assert_eq!(decode_event_account(&bytes), Ok(acc.clone()));

    let mut longer = bytes.clone();
    longer.extend([0xAA; 8]);
    assert_eq!(decode_event_account(&longer), Ok(acc));
    assert_eq!(decode_event_account(&bytes[..498]), Err(DecodeError::TooShort(498)));
    let mut wrong = bytes;
    wrong[0] ^= 1;
    assert!(matches!(decode_event_account(&wrong), Err(DecodeError::WrongDiscriminator(_))));

    assert!(EventAccount::from_params(&CreateEventParams { name: "x".repeat(33), ..params() }, &venue, 1).is_none());
}

#[test]
fn matches_decides_already_registered() {
    let venue = Pubkey::new_from_array([3; 32]);
    let acc = decode_event_account(&hand_placed_account()).unwrap();
    // Counters and bump differ from a fresh account but do not matter.
    assert!(acc.matches(&params(), &venue));
    assert!(!acc.matches(&params(), &Pubkey::new_from_array([4; 32])));
    assert!(!acc.matches(&CreateEventParams { ticket_price: 1_500_001, ..params() }, &venue));
    assert!(!acc.matches(&CreateEventParams { name: "Jazz Nigh".into(), ..params() }, &venue));
    assert!(!acc.matches(&CreateEventParams { description: "Live!".into(), ..params() }, &venue));
    assert!(!acc.matches(&CreateEventParams { event_id: 1, ..params() }, &venue));
    assert!(!acc.matches(&CreateEventParams { resaleable: true, ..params() }, &venue));
}

#[test]
fn instruction_data_round_trips_and_rejects_anything_else() {
    let p = params();
    let data = p.instruction_data();
    assert_eq!(CreateEventParams::from_instruction_data(&data), Some(p));
    // Truncated, trailing byte, wrong discriminator, non-boolean bool: all refused.
    assert_eq!(CreateEventParams::from_instruction_data(&data[..data.len() - 1]), None);
    let mut longer = data.clone();
    longer.push(0);
    assert_eq!(CreateEventParams::from_instruction_data(&longer), None);
    let mut wrong = data.clone();
    wrong[0] ^= 1;
    assert_eq!(CreateEventParams::from_instruction_data(&wrong), None);
    let bool_at = data.len() - (2 + 2 + 32 + 1 + 1);
    let mut bad_bool = data;
    bad_bool[bool_at] = 2;
    assert_eq!(CreateEventParams::from_instruction_data(&bad_bool), None);
}
